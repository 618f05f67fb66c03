/**
 * Percentiles from the fixed-bucket histograms, interpolated linearly within the bucket the rank falls in
 * (the first bucket starts at 0 ms). A rank in the open last bucket reports its lower bound (10 s): a floor,
 * not an estimate, since nothing bounds it from above.
 */
import { LATENCY_BUCKET_BOUNDS_MS, LATENCY_BUCKET_COUNT } from "../metrics/latency-buckets.ts";
import type { RouteMinute } from "../metrics/route-minute.ts";

export interface LatencyPercentiles {
  p50: number;
  p95: number;
  p99: number;
}

export interface RouteLatency extends LatencyPercentiles {
  route: string;
  method: string;
  count: number;
}

/** The latency in ms below which `quantile` of the histogram's requests fall; undefined for an empty histogram. */
export function percentileOf(buckets: readonly number[], quantile: number): number | undefined {
  const total = buckets.reduce((sum, n) => sum + n, 0);
  if (total === 0) return undefined;
  const rank = quantile * total;
  let below = 0;
  for (let index = 0; index < LATENCY_BUCKET_COUNT; index++) {
    const inBucket = buckets[index] ?? 0;
    const upper = LATENCY_BUCKET_BOUNDS_MS[index];
    const lower = index === 0 ? 0 : (LATENCY_BUCKET_BOUNDS_MS[index - 1] as number);
    if (upper === undefined) return lower;
    if (inBucket > 0 && below + inBucket >= rank) return lower + ((upper - lower) * (rank - below)) / inBucket;
    below += inBucket;
  }
  return LATENCY_BUCKET_BOUNDS_MS.at(-1);
}

/** p50, p95 and p99 per route and method over every status class of `rows`, busiest first. */
export function latencyByRoute(rows: readonly RouteMinute[]): RouteLatency[] {
  const merged = new Map<string, { route: string; method: string; count: number; buckets: number[] }>();
  for (const row of rows) {
    const key = `${row.method} ${row.route}`;
    let entry = merged.get(key);
    if (entry === undefined) {
      entry = { route: row.route, method: row.method, count: 0, buckets: new Array(LATENCY_BUCKET_COUNT).fill(0) };
      merged.set(key, entry);
    }
    entry.count += row.count;
    for (let index = 0; index < LATENCY_BUCKET_COUNT; index++)
      (entry.buckets[index] as number) += row.buckets[index] ?? 0;
  }
  return [...merged.values()]
    .filter((entry) => entry.count > 0)
    .sort((a, b) => b.count - a.count)
    .map(({ route, method, count, buckets }) => ({
      route,
      method,
      count,
      p50: percentileOf(buckets, 0.5) as number,
      p95: percentileOf(buckets, 0.95) as number,
      p99: percentileOf(buckets, 0.99) as number,
    }));
}
