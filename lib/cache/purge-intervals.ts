/**
 * Adaptive TTL: each purge records, per tag, when it happened and an exponentially weighted mean of the interval
 * between purges; an entry stored under adaptive tags is fresh for a tenth of the shortest of their intervals,
 * within the route's `{ min, max }`. A tag purged every 10 s gets 1 s entries; one never purged, the maximum.
 */
import type { Store } from "../store/store.ts";

const INTERVAL_KEY_PREFIX = "rcti:";
/** The newest interval's weight in the mean: one odd interval moves it a quarter of the way. */
const EWMA_WEIGHT = 0.25;
/** An entry lives this share of its tags' interval, so most reads between two purges are hits. */
const TTL_SHARE_OF_INTERVAL = 0.1;
/** A tag unpurged this long has no history, and its entries get the maximum. */
const HISTORY_MS = 7 * 86_400_000;

export function purgeIntervalKey(tag: string): string {
  return INTERVAL_KEY_PREFIX + tag;
}

interface PurgeHistory {
  /** Epoch milliseconds of the last purge. */
  readonly at: number;
  /** The weighted mean interval; absent after the first purge. */
  readonly meanMs?: number;
}

function parseHistory(raw: string | null): PurgeHistory | undefined {
  if (raw === null) return undefined;
  const history = JSON.parse(raw) as Partial<PurgeHistory>;
  return typeof history.at === "number" ? (history as PurgeHistory) : undefined;
}

function nextHistory(previous: PurgeHistory | undefined, now: number): PurgeHistory {
  if (previous === undefined) return { at: now };
  const intervalMs = Math.max(0, now - previous.at);
  const meanMs =
    previous.meanMs === undefined ? intervalMs : EWMA_WEIGHT * intervalMs + (1 - EWMA_WEIGHT) * previous.meanMs;
  return { at: now, meanMs };
}

/**
 * Records a purge of each of `tags` at `now`: one MGET and one SET per tag, on the purge path only. Two
 * instances purging one tag at once may lose one interval; the mean is an estimate, not a count.
 */
export async function recordPurges(store: Store, tags: readonly string[], now: number): Promise<void> {
  const keys = tags.map(purgeIntervalKey);
  const previous = await store.mget(keys);
  await Promise.all(
    keys.map((key, i) =>
      store.set(key, JSON.stringify(nextHistory(parseHistory(previous[i] ?? null), now)), { ttlMs: HISTORY_MS }),
    ),
  );
}

/**
 * The TTL of an entry whose tags' histories (as read by `purgeIntervalKey`) are `raw`: a tenth of the shortest
 * interval, within `[minMs, maxMs]`. The time since a tag's last purge counts as a lower bound of its interval,
 * so a tag that has gone quiet lengthens its entries again.
 */
export function adaptiveTtlMs(raw: readonly (string | null)[], now: number, minMs: number, maxMs: number): number {
  let shortestMs = Number.POSITIVE_INFINITY;
  for (const value of raw) {
    const history = parseHistory(value);
    if (history?.meanMs === undefined) continue;
    shortestMs = Math.min(shortestMs, Math.max(history.meanMs, now - history.at));
  }
  return Math.min(maxMs, Math.max(minMs, Math.round(TTL_SHARE_OF_INTERVAL * shortestMs)));
}
