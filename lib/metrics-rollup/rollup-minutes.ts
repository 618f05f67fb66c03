/**
 * Moves closed minutes from the store into metrics_minute, then recomputes the hours and days they fall in.
 *
 * 1. A minute is closed ROLLUP_GRACE_MS after its end: flushes (every 10 s per instance) land before that.
 * 2. The cursor (metrics_rollup_cursor) names the last minute moved; a run takes every closed minute after
 *    it, at most the store's key lifetime back, so skipped runs are caught up without SCAN.
 * 3. Per minute: upsert the absolute values read from its hash, delete the hash, advance the cursor. A run
 *    cut short anywhere repeats no more than that minute, and the repeat writes the same values.
 * 4. Hours and days are recomputed whole from the finer table, so they too are the same however often run.
 */
import { eq, type SQL, sql } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import type { Db } from "../db/database.ts";
import {
  metricsDay,
  metricsHour,
  metricsMinute,
  metricsRollupCursor,
  metricsSeriesMinute,
} from "../db/schema/index.ts";
import { LATENCY_BUCKET_COUNT } from "../metrics/latency-buckets.ts";
import { MINUTE_KEY_TTL_MS, MINUTE_MS, minuteKey, minuteOf, parseMinuteFields } from "../metrics/minute-fields.ts";
import type { Store } from "../store/store.ts";

export const ROLLUP_GRACE_MS = 120_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
const CURSOR_ID = 1;

export interface RollupOutcome {
  /** Minutes read from the store, with data or not. */
  minutes: number;
  /** Minute rows written (routes and series). */
  rows: number;
  hours: number;
}

/** The last minute that is closed at `now`. */
export const lastClosedMinute = (now: number): number => minuteOf(now - ROLLUP_GRACE_MS) - 1;

export async function readRollupCursor(db: Db): Promise<number | undefined> {
  const [cursor] = await db.select().from(metricsRollupCursor).where(eq(metricsRollupCursor.id, CURSOR_ID));
  return cursor === undefined ? undefined : minuteOf(cursor.rolledThrough.getTime());
}

export async function rollUpMetrics(db: Db, store: Store, now: number, signal?: AbortSignal): Promise<RollupOutcome> {
  const last = lastClosedMinute(now);
  const oldestKept = last - MINUTE_KEY_TTL_MS / MINUTE_MS + 1;
  const cursor = await readRollupCursor(db);
  const hours = new Set<number>();
  let minutes = 0;
  let rows = 0;
  for (let minute = Math.max(oldestKept, (cursor ?? oldestKept - 1) + 1); minute <= last; minute++) {
    if (signal?.aborted) break;
    const start = new Date(minute * MINUTE_MS);
    const stored = parseMinuteFields(await store.readFields(minuteKey(minute)), LATENCY_BUCKET_COUNT);
    const routes = stored.filter((s) => s.kind === "r");
    const series = stored.filter((s) => s.kind === "s");
    if (routes.length > 0) {
      await db
        .insert(metricsMinute)
        .values(
          routes.map((s) => ({ start, method: s.first, route: s.second, ...measures(s), statusClass: s.statusClass })),
        )
        .onConflictDoUpdate({ target: keyOf(metricsMinute), set: absolute });
      hours.add(Math.floor((minute * MINUTE_MS) / HOUR_MS));
    }
    if (series.length > 0)
      await db
        .insert(metricsSeriesMinute)
        .values(series.map((s) => ({ start, name: s.first, labels: s.second, ...measures(s) })))
        .onConflictDoUpdate({
          target: [metricsSeriesMinute.start, metricsSeriesMinute.name, metricsSeriesMinute.labels],
          set: absolute,
        });
    rows += stored.length;
    minutes++;
    await store.del(minuteKey(minute));
    await db
      .insert(metricsRollupCursor)
      .values({ id: CURSOR_ID, rolledThrough: start })
      .onConflictDoUpdate({ target: metricsRollupCursor.id, set: { rolledThrough: start } });
  }
  const days = new Set<number>();
  for (const hour of hours) {
    await recompute(db, metricsMinute, metricsHour, hour * HOUR_MS, HOUR_MS);
    days.add(Math.floor((hour * HOUR_MS) / DAY_MS));
  }
  for (const day of days) await recompute(db, metricsHour, metricsDay, day * DAY_MS, DAY_MS);
  return { minutes, rows, hours: hours.size };
}

const measures = (s: { count: number; sumMs: number; buckets: number[] }) => ({
  count: s.count,
  sumMs: s.sumMs,
  buckets: s.buckets,
});

const absolute = {
  count: sql`excluded.count`,
  sumMs: sql`excluded.sum_ms`,
  buckets: sql`excluded.buckets`,
};

type RouteMetricsTable = typeof metricsMinute;
const keyOf = (table: RouteMetricsTable) => [table.start, table.route, table.method, table.statusClass];

/** Rewrites the rows of `target` starting at `start` as the sums of `source` over [start, start + lengthMs). */
async function recompute(db: Db, source: PgTable, target: PgTable, start: number, lengthMs: number): Promise<void> {
  const from = new Date(start).toISOString();
  const to = new Date(start + lengthMs).toISOString();
  const within: SQL = sql`start >= ${from}::timestamptz and start < ${to}::timestamptz`;
  await db.execute(sql`
    with totals as (
      select route, method, status_class, sum(count)::bigint as count, sum(sum_ms) as sum_ms
      from ${source} where ${within} group by route, method, status_class
    ), cells as (
      select route, method, status_class, bucket.i, sum(bucket.n)::bigint as n
      from ${source}, unnest(buckets) with ordinality as bucket(n, i)
      where ${within} group by route, method, status_class, bucket.i
    )
    insert into ${target} (start, route, method, status_class, count, sum_ms, buckets)
    select ${from}::timestamptz, t.route, t.method, t.status_class, t.count, t.sum_ms,
      array(select c.n from cells c
        where c.route = t.route and c.method = t.method and c.status_class = t.status_class order by c.i)
    from totals t
    on conflict (start, route, method, status_class)
    do update set count = excluded.count, sum_ms = excluded.sum_ms, buckets = excluded.buckets`);
}
