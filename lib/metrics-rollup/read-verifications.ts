/**
 * Verification counts over time by outcome for one key, identity or organization: the rolled-up minutes from
 * the database, then the minutes still in the store after the rollup's cursor, summed into minute, hour or day
 * buckets.
 */
import { and, asc, eq, gte, like, lt } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { metricsSeriesMinute } from "../db/schema/index.ts";
import { LATENCY_BUCKET_COUNT } from "../metrics/latency-buckets.ts";
import { MINUTE_KEY_TTL_MS, MINUTE_MS, minuteKey, minuteOf, parseMinuteFields } from "../metrics/minute-fields.ts";
import { formatLabels } from "../metrics/recorders.ts";
import type { Store } from "../store/store.ts";
import { DAY_MS, HOUR_MS, readRollupCursor } from "./rollup-minutes.ts";

export type VerificationGranularity = "minute" | "hour" | "day";

export interface VerificationQuery {
  /** The series name and its labels without the outcome. */
  series: string;
  labels: Record<string, string>;
  from: Date;
  to: Date;
  granularity: VerificationGranularity;
  store: Store;
  now: number;
}

export interface VerificationBucket {
  start: string;
  outcomes: Record<string, number>;
}

const STEP_MS: Record<VerificationGranularity, number> = { minute: MINUTE_MS, hour: HOUR_MS, day: DAY_MS };

export async function readVerifications(db: Db, query: VerificationQuery): Promise<VerificationBucket[]> {
  // `outcome` sorts after `key`, `identity` and `org`, so the subject's labels are a prefix of each series'.
  const prefix = `${formatLabels(query.labels)},outcome=`;
  const rows = await db
    .select({ start: metricsSeriesMinute.start, labels: metricsSeriesMinute.labels, count: metricsSeriesMinute.count })
    .from(metricsSeriesMinute)
    .where(
      and(
        eq(metricsSeriesMinute.name, query.series),
        like(metricsSeriesMinute.labels, `${prefix.replace(/[\\%_]/g, "\\$&")}%`),
        gte(metricsSeriesMinute.start, query.from),
        lt(metricsSeriesMinute.start, query.to),
      ),
    )
    .orderBy(asc(metricsSeriesMinute.start));
  const counts = rows.map((row) => ({
    at: row.start.getTime(),
    outcome: row.labels.slice(prefix.length),
    n: row.count,
  }));
  // Past the store's key lifetime nothing is left to read; before the cursor the rows above have it.
  const oldestKept = minuteOf(query.now - MINUTE_KEY_TTL_MS);
  const after = Math.max(oldestKept, ((await readRollupCursor(db)) ?? minuteOf(query.from.getTime()) - 1) + 1);
  // Up to `to` even past `now`: an instance whose clock runs ahead files its counts under its own minute.
  const last = Math.min(minuteOf(query.now) + 5, minuteOf(query.to.getTime() - 1));
  for (let minute = Math.max(after, minuteOf(query.from.getTime())); minute <= last; minute++) {
    for (const s of parseMinuteFields(await query.store.readFields(minuteKey(minute)), LATENCY_BUCKET_COUNT))
      if (s.kind === "s" && s.first === query.series && s.second.startsWith(prefix))
        counts.push({ at: minute * MINUTE_MS, outcome: s.second.slice(prefix.length), n: s.count });
  }
  const step = STEP_MS[query.granularity];
  const buckets = new Map<number, Record<string, number>>();
  for (const { at, outcome, n } of counts) {
    const start = Math.floor(at / step) * step;
    const outcomes = buckets.get(start) ?? {};
    outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
    buckets.set(start, outcomes);
  }
  return [...buckets]
    .sort(([a], [b]) => a - b)
    .map(([start, outcomes]) => ({ start: new Date(start).toISOString(), outcomes }));
}
