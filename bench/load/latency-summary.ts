/** What one route (or a whole mix) did in one measured interval: throughput, latency percentiles, errors. */

export interface RouteTally {
  /** Milliseconds from the moment each request was due to its answer, in arrival order. */
  latenciesMs: number[];
  statuses: Map<number, number>;
  /** Requests that got no HTTP answer: refused connection, reset, the client's deadline. */
  failures: number;
  /** Open model only: arrivals not sent because the generator already had its maximum in flight. */
  dropped: number;
  cache: Map<string, number>;
}

export interface LatencySummary {
  requests: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Share of requests answered 4xx or 5xx (each one sent should succeed), not answered, or dropped. */
  errorRate: number;
  statuses: Record<string, number>;
  failures: number;
  dropped: number;
  /** `X-Cache` values seen, for cached routes. */
  cache?: Record<string, number>;
}

export function emptyTally(): RouteTally {
  return { latenciesMs: [], statuses: new Map(), failures: 0, dropped: 0, cache: new Map() };
}

export function mergeTallies(tallies: readonly RouteTally[]): RouteTally {
  const merged = emptyTally();
  for (const tally of tallies) {
    for (const ms of tally.latenciesMs) merged.latenciesMs.push(ms);
    for (const [status, n] of tally.statuses) merged.statuses.set(status, (merged.statuses.get(status) ?? 0) + n);
    for (const [value, n] of tally.cache) merged.cache.set(value, (merged.cache.get(value) ?? 0) + n);
    merged.failures += tally.failures;
    merged.dropped += tally.dropped;
  }
  return merged;
}

/** The value below which `share` of the sorted samples fall (nearest rank). */
export function percentile(sorted: readonly number[], share: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)] ?? 0;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export function summarise(tally: RouteTally, seconds: number): LatencySummary {
  const sorted = tally.latenciesMs.toSorted((a, b) => a - b);
  let failed = tally.failures + tally.dropped;
  for (const [status, n] of tally.statuses) if (status >= 400) failed += n;
  const attempted = sorted.length + tally.failures + tally.dropped;
  return {
    requests: sorted.length,
    rps: Math.round((sorted.length / seconds) * 10) / 10,
    p50Ms: round(percentile(sorted, 0.5)),
    p90Ms: round(percentile(sorted, 0.9)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted.at(-1) ?? 0),
    errorRate: attempted === 0 ? 0 : Math.round((failed / attempted) * 10_000) / 10_000,
    statuses: Object.fromEntries(tally.statuses),
    failures: tally.failures,
    dropped: tally.dropped,
    ...(tally.cache.size > 0 ? { cache: Object.fromEntries(tally.cache) } : {}),
  };
}
