/**
 * One instance's feed of organizations' events to its open streams. Each organization with a subscriber is
 * polled from PostgreSQL every `pollMs` (the HTTP Redis client cannot subscribe), so an event committed on any
 * instance reaches every instance's subscribers within about `pollMs` plus one query.
 *
 * No gap, no duplicate: an organization's event numbers are dense and commit in order
 * (lib/outbox/webhook-outbox.ts), and each subscriber keeps its own cursor, handed only events above it.
 */
import type { Db } from "../db/database.ts";
import type { Logger } from "../log/logger.ts";
import { lastEventSeq, type OrgEvent, readEventsAfter } from "./org-events.ts";

export interface EventFeedOptions {
  /** How often an organization with subscribers is polled. @default 500 */
  pollMs: number;
  /** How many events one query reads; a full batch is followed by another at once. @default 500 */
  batchSize: number;
  /** How far back a resume may reach, in events; an older last id resumes this many events back. @default 1000 */
  replayWindow: number;
}

export const DEFAULT_EVENT_FEED_OPTIONS: EventFeedOptions = { pollMs: 500, batchSize: 500, replayWindow: 1000 };

export interface SubscribeRequest {
  orgId: string;
  /** Only these types are handed on (every type when absent); the cursor moves past the others all the same. */
  types?: ReadonlySet<string>;
  /** The last event id the client saw, to resume after it. */
  lastEventId?: number;
}

export interface Subscription {
  /** True when the resume point was older than the replay window: events between were skipped. */
  readonly truncated: boolean;
  /** The id the stream starts after. */
  readonly startsAfter: number;
  unsubscribe(): void;
}

export interface EventSink {
  events(events: readonly OrgEvent[]): void;
  /** The instance is shutting down: the stream should close (1001), and the client resume elsewhere. */
  shutdown(): void;
}

interface Subscriber {
  cursor: number;
  readonly types: ReadonlySet<string> | undefined;
  readonly sink: EventSink;
}

export interface EventFeed {
  subscribe(request: SubscribeRequest, sink: EventSink): Promise<Subscription>;
  /** Polls at once the organizations a committed change wrote events for (this instance's own changes). */
  nudge(orgIds: readonly string[]): void;
  readonly subscriberCount: number;
  stop(): void;
}

export interface EventFeedParts {
  readonly db: Db;
  readonly logger: Logger;
  readonly lifecycle: { readonly shuttingDown: boolean };
}

export function createEventFeed(
  { db, logger, lifecycle }: EventFeedParts,
  options: Partial<EventFeedOptions> = {},
): EventFeed {
  const { pollMs, batchSize, replayWindow } = { ...DEFAULT_EVENT_FEED_OPTIONS, ...options };
  const subscribersOf = new Map<string, Set<Subscriber>>();
  // An organization's poll runs alone; one asked for meanwhile runs once it ends.
  const polling = new Set<string>();
  const pollAgain = new Set<string>();
  let timer: ReturnType<typeof setInterval> | undefined;
  let count = 0;

  // Returns whether a subscriber was left behind: one that joined below `from` while the query ran.
  const deliver = (subscribers: Set<Subscriber>, from: number, events: readonly OrgEvent[]): boolean => {
    let behind = false;
    for (const subscriber of subscribers) {
      if (subscriber.cursor < from) {
        behind = true;
        continue;
      }
      const fresh = events.filter(
        (event) => event.seq > subscriber.cursor && (subscriber.types?.has(event.type) ?? true),
      );
      const last = events.at(-1);
      if (last !== undefined && last.seq > subscriber.cursor) subscriber.cursor = last.seq;
      if (fresh.length > 0) subscriber.sink.events(fresh);
    }
    return behind;
  };

  const pollOrg = async (orgId: string): Promise<void> => {
    if (polling.has(orgId)) {
      pollAgain.add(orgId);
      return;
    }
    polling.add(orgId);
    try {
      for (;;) {
        const subscribers = subscribersOf.get(orgId);
        if (subscribers === undefined) return;
        let from = Number.POSITIVE_INFINITY;
        for (const subscriber of subscribers) from = Math.min(from, subscriber.cursor);
        const events = await readEventsAfter(db, orgId, from, batchSize);
        const behind = deliver(subscribers, from, events);
        if (events.length < batchSize && !behind && !pollAgain.delete(orgId)) return;
      }
    } catch (error) {
      logger.warn("live event poll failed", { orgId, error });
    } finally {
      polling.delete(orgId);
    }
  };

  // Checked on every tick: streams close within `pollMs` of a shutdown, well inside the drain time.
  const pollAll = () => {
    if (lifecycle.shuttingDown) {
      for (const subscribers of subscribersOf.values()) for (const { sink } of subscribers) sink.shutdown();
      return;
    }
    for (const orgId of subscribersOf.keys()) void pollOrg(orgId);
  };

  return {
    async subscribe({ orgId, types, lastEventId }, sink) {
      const head = await lastEventSeq(db, orgId);
      const oldest = Math.max(0, head - replayWindow);
      let startsAfter = head;
      if (lastEventId !== undefined && lastEventId <= head) startsAfter = Math.max(lastEventId, oldest);
      const subscriber: Subscriber = { cursor: startsAfter, types, sink };
      let subscribers = subscribersOf.get(orgId);
      if (subscribers === undefined) subscribersOf.set(orgId, (subscribers = new Set()));
      subscribers.add(subscriber);
      count++;
      if (timer === undefined) {
        timer = setInterval(pollAll, pollMs);
        (timer as { unref?: () => void }).unref?.();
      }
      // Between the head read and now another subscriber's poll may have moved past: replay from the cursor at once.
      if (startsAfter < head || lastEventId !== undefined) void pollOrg(orgId);
      return {
        truncated: lastEventId !== undefined && lastEventId < oldest,
        startsAfter,
        unsubscribe() {
          if (!subscribers.delete(subscriber)) return;
          count--;
          if (subscribers.size === 0) subscribersOf.delete(orgId);
          if (count === 0 && timer !== undefined) {
            clearInterval(timer);
            timer = undefined;
          }
        },
      };
    },
    nudge(orgIds) {
      for (const orgId of orgIds) if (subscribersOf.has(orgId)) void pollOrg(orgId);
    },
    get subscriberCount() {
      return count;
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      subscribersOf.clear();
      count = 0;
    },
  };
}
