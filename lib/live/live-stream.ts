/**
 * One open stream, whatever carries it (WebSocket or Server-Sent Events): subscribes to the feed, hands on
 * events as frames, sends the application heartbeat, re-checks its grant, and closes slow consumers.
 */
import type { Logger } from "../log/logger.ts";
import type { EventFeed, SubscribeRequest } from "./event-feed.ts";
import type { OrgEvent } from "./org-events.ts";

/** Close codes a stream ends with (WebSocket codes; an SSE stream just ends). */
export const LIVE_CLOSE = {
  shutdown: 1001,
  policy: 1008,
  tooLarge: 1009,
  slowConsumer: 1013,
  revoked: 4401,
  idle: 4408,
} as const;

export interface LiveStreamOptions {
  /**
   * How often a stream gets an application heartbeat (and a WebSocket a ping), and its grant is checked
   * again: a revoked session or key is closed within this plus the revocation cache's 5 s. @default 25000
   */
  heartbeatMs: number;
  /** A WebSocket client silent this long (no pong, no message) is closed; checked on each heartbeat. @default 60000 */
  idleTimeoutMs: number;
  /** Past this many bytes waiting to be sent, the consumer is too slow and the stream is closed. @default 1 MiB */
  maxBufferedBytes: number;
}

export const DEFAULT_LIVE_STREAM_OPTIONS: LiveStreamOptions = {
  heartbeatMs: 25_000,
  idleTimeoutMs: 60_000,
  maxBufferedBytes: 1024 * 1024,
};

export interface LiveTransport {
  /** Queues one frame; returns how many bytes are still waiting to be sent. */
  send(frame: string): number;
  close(code: number, reason: string): void;
  /** A protocol-level ping, where the transport has one and hears the answer (WebSocket). */
  ping?(): void;
}

export interface LiveFrames {
  event(event: OrgEvent): string;
  heartbeat(): string;
  /** Told once at the start when the resume point was older than the replay window. */
  truncated(startsAfter: number): string;
}

export interface LiveStream {
  /** Unsubscribes and stops the timers; the transport is already closed or closing. */
  end(): void;
  /** The client was heard from (a pong or a message): it is not idle. */
  heard(): void;
  /** Sends one frame, closing a consumer too slow to take it. */
  send(frame: string): void;
  close(code: number, reason: string): void;
}

export interface OpenLiveStream {
  feed: EventFeed;
  subscribe: SubscribeRequest;
  transport: LiveTransport;
  frames: LiveFrames;
  /** Whether the session or key the stream was opened with is still good. */
  isGrantLive: () => Promise<boolean>;
  options: LiveStreamOptions;
  logger: Logger;
  now?: () => number;
}

export async function openLiveStream({
  feed,
  subscribe,
  transport,
  frames,
  isGrantLive,
  options,
  logger,
  now = performance.now.bind(performance),
}: OpenLiveStream): Promise<LiveStream> {
  let ended = false;
  let heardAt = now();
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const close = (code: number, reason: string) => {
    if (ended) return;
    stream.end();
    transport.close(code, reason);
  };
  const send = (frame: string) => {
    if (ended) return;
    if (transport.send(frame) > options.maxBufferedBytes) close(LIVE_CLOSE.slowConsumer, "consumer too slow");
  };
  const subscription = await feed.subscribe(subscribe, {
    events(events) {
      for (const event of events) send(frames.event(event));
    },
    shutdown() {
      close(LIVE_CLOSE.shutdown, "server shutting down");
    },
  });
  const stream: LiveStream = {
    end() {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      subscription.unsubscribe();
    },
    heard() {
      heardAt = now();
    },
    send,
    close,
  };
  if (subscription.truncated) send(frames.truncated(subscription.startsAfter));
  heartbeat = setInterval(() => {
    if (transport.ping !== undefined && now() - heardAt > options.idleTimeoutMs) {
      close(LIVE_CLOSE.idle, "idle timeout");
      return;
    }
    send(frames.heartbeat());
    transport.ping?.();
    isGrantLive().then(
      (live) => {
        if (!live) close(LIVE_CLOSE.revoked, "session or key revoked");
      },
      // A check that cannot answer (database down) keeps the stream: the next one decides.
      (error: unknown) => logger.warn("live stream grant check failed", { error }),
    );
  }, options.heartbeatMs);
  return stream;
}
