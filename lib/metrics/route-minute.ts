/** Status classes a route's requests are counted under. */
export type StatusClass = 1 | 2 | 3 | 4 | 5;

/**
 * One minute of one route's requests with one status class, cluster-wide: the row the rollups store
 * (`metrics_minute`, `metrics_hour`, `metrics_day`) and the SLOs and alerts read.
 */
export interface RouteMinute {
  /** Start of the minute (or hour, or day) the row covers. */
  start: Date;
  /** Route template, e.g. `/v1/orgs/:orgId`, or `(unmatched)`; never a raw path. */
  route: string;
  method: string;
  statusClass: StatusClass;
  count: number;
  /** Sum of the durations in ms, for the mean. */
  sumMs: number;
  /** Count per bucket of LATENCY_BUCKET_BOUNDS_MS (not cumulative), LATENCY_BUCKET_COUNT entries. */
  buckets: number[];
}
