/**
 * What the SLOs and the metrics routes read: rolled-up rows of one granularity over [from, to), and, for
 * minutes, the minutes still in the store (not yet rolled up) when `open` gives the store and the time.
 */
import { and, asc, gte, lt } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { metricsDay, metricsHour, metricsMinute } from "../db/schema/index.ts";
import { LATENCY_BUCKET_COUNT } from "../metrics/latency-buckets.ts";
import { MINUTE_MS, minuteKey, minuteOf, parseMinuteFields } from "../metrics/minute-fields.ts";
import type { RouteMinute, StatusClass } from "../metrics/route-minute.ts";
import type { Store } from "../store/store.ts";
import { readRollupCursor } from "./rollup-minutes.ts";

export type Granularity = "minute" | "hour" | "day";

const TABLES = { minute: metricsMinute, hour: metricsHour, day: metricsDay } as const;

export interface RouteMinuteQuery {
  from: Date;
  to: Date;
  granularity: Granularity;
  /** Adds the minutes after the rollup's cursor from the store (granularity "minute" only). */
  open?: { store: Store; now: number };
}

export async function readRouteMinutes(db: Db, query: RouteMinuteQuery): Promise<RouteMinute[]> {
  const table = TABLES[query.granularity];
  const rows = await db
    .select()
    .from(table)
    .where(and(gte(table.start, query.from), lt(table.start, query.to)))
    .orderBy(asc(table.start));
  const result: RouteMinute[] = rows.map((row) => ({ ...row, statusClass: row.statusClass as StatusClass }));
  if (query.open === undefined || query.granularity !== "minute") return result;
  const after = ((await readRollupCursor(db)) ?? minuteOf(query.from.getTime()) - 1) + 1;
  const last = Math.min(minuteOf(query.open.now), minuteOf(query.to.getTime() - 1));
  for (let minute = Math.max(after, minuteOf(query.from.getTime())); minute <= last; minute++) {
    const stored = parseMinuteFields(await query.open.store.readFields(minuteKey(minute)), LATENCY_BUCKET_COUNT);
    for (const s of stored)
      if (s.kind === "r")
        result.push({
          start: new Date(minute * MINUTE_MS),
          method: s.first,
          route: s.second,
          statusClass: s.statusClass as StatusClass,
          count: s.count,
          sumMs: s.sumMs,
          buckets: s.buckets,
        });
  }
  return result;
}
