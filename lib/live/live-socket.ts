/**
 * One admitted WebSocket, whatever server carries it (Bun's `.ws()` or `Deno.upgradeWebSocket`): its lease,
 * its message budget and its stream, from the open to the close. The server hands on the socket's events.
 */
import type { ConnectionLease } from "./connection-caps.ts";
import { LIVE_CLOSE, type LiveFrames, type LiveStream, type LiveTransport } from "./live-stream.ts";
import type { TicketClaims } from "./live-tickets.ts";
import { eventMessage } from "./sse-stream.ts";

/** Largest message a client may send; a larger one closes the socket with 1009. */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;
/** Frames this size and up are sent compressed; smaller ones cost more to compress than they save. */
export const COMPRESS_FROM_BYTES = 1024;

export const WS_FRAMES: LiveFrames = {
  event: (event) => JSON.stringify({ kind: "event", ...eventMessage(event) }),
  heartbeat: () => '{"kind":"heartbeat"}',
  truncated: (startsAfter) => JSON.stringify({ kind: "truncated", startsAfter: String(startsAfter) }),
};

/** What a server's socket offers: `send` returns the bytes still waiting; `ping` where pongs are heard. */
export interface SocketSink {
  send(frame: string, compress: boolean): number;
  close(code: number, reason: string): void;
  ping?(): void;
}

export interface LiveSocket {
  readonly claims: TicketClaims;
  /** Starts the stream over the open socket; `start` opens it with the transport's frames. */
  open(sink: SocketSink, start: (transport: LiveTransport, frames: LiveFrames) => Promise<LiveStream>): Promise<void>;
  /** A client message: `message` parsed where it was JSON, `bytes` its size. */
  message(message: unknown, bytes: number): void;
  /** A pong: the client is there. */
  pong(): void;
  /** The socket closed: stop the stream and give the connection back. */
  closed(): void;
}

export function createLiveSocket(claims: TicketClaims, lease: ConnectionLease, takeMessage: () => boolean): LiveSocket {
  let stream: LiveStream | undefined;
  let sink: SocketSink | undefined;
  let closed = false;
  let released = false;
  const end = (code: number, reason: string) => {
    closed = true;
    stream?.end();
    sink?.close(code, reason);
  };
  return {
    claims,
    async open(opened, start) {
      sink = opened;
      const transport: LiveTransport = {
        send: (frame) => opened.send(frame, frame.length >= COMPRESS_FROM_BYTES),
        close: (code, reason) => opened.close(code, reason),
        ping: opened.ping === undefined ? undefined : () => opened.ping?.(),
      };
      stream = await start(transport, WS_FRAMES);
      if (closed) stream.end();
    },
    message(message, bytes) {
      if (closed) return;
      stream?.heard();
      // Bun refuses these itself (maxPayloadLength); a server without that limit relies on this.
      if (bytes > MAX_CLIENT_MESSAGE_BYTES) return end(LIVE_CLOSE.tooLarge, "message too large");
      if (!takeMessage()) return end(LIVE_CLOSE.policy, "message rate exceeded");
      if (typeof message === "object" && message !== null && (message as { kind?: unknown }).kind === "ping")
        sink?.send('{"kind":"pong"}', false);
    },
    pong() {
      stream?.heard();
    },
    closed() {
      closed = true;
      stream?.end();
      if (released) return;
      released = true;
      void lease.release();
    },
  };
}
