/** Upper bounds (ms) of the latency histogram every route records; the last bucket counts everything slower. */
export const LATENCY_BUCKET_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

/** Number of buckets including the open-ended last one. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKET_BOUNDS_MS.length + 1;

/** Index of the bucket a duration falls in: the first whose bound is at least `ms`. */
export function latencyBucketIndex(ms: number): number {
  let index = 0;
  for (const bound of LATENCY_BUCKET_BOUNDS_MS) {
    if (ms <= bound) return index;
    index++;
  }
  return index;
}
