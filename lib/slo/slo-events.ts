/** Good and total events of an SLO in a time range, counted from route-minute rows. */
import { latencyBucketIndex } from "../metrics/latency-buckets.ts";
import type { RouteMinute } from "../metrics/route-minute.ts";
import type { Slo } from "./slo-declaration.ts";

export interface EventCounts {
  good: number;
  total: number;
}

/** Where route-minute rows come from: the rollup tables at run time, synthetic rows in tests. */
export type MinuteSource = (from: Date, to: Date) => Promise<RouteMinute[]>;

/** Whether `row` counts for `slo`, and how many of its requests were good; undefined when it does not count. */
function eventsOf(slo: Slo, row: RouteMinute): EventCounts | undefined {
  if (!slo.coversRoute(row.route)) return undefined;
  if (slo.sli.kind === "availability") return { total: row.count, good: row.statusClass === 5 ? 0 : row.count };
  // Latency is judged on answers that were not errors: a fast 500 is not a good event, nor a slow-request one.
  if (row.statusClass === 5) return undefined;
  const last = latencyBucketIndex(slo.sli.thresholdMs);
  let good = 0;
  for (let index = 0; index <= last; index++) good += row.buckets[index] ?? 0;
  return { total: row.count, good };
}

/** Events of `slo` in rows starting in [from, to). */
export function countEvents(slo: Slo, rows: readonly RouteMinute[], from: number, to: number): EventCounts {
  const counts = { good: 0, total: 0 };
  for (const row of rows) {
    const start = row.start.getTime();
    if (start < from || start >= to) continue;
    const events = eventsOf(slo, row);
    if (events === undefined) continue;
    counts.good += events.good;
    counts.total += events.total;
  }
  return counts;
}
