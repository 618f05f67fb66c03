/**
 * Recorders for one series each, resolved once (a route when the app is built, a dependency when its client
 * is made), so recording is a few array writes: no lookup, no allocation, no label formatting.
 */
import { LATENCY_BUCKET_COUNT, latencyBucketIndex } from "./latency-buckets.ts";

/** Per status class: the count, the sum of ms, then LATENCY_BUCKET_COUNT bucket counts. */
export const SLOT_COUNT = 0;
export const SLOT_SUM_MS = 1;
export const SLOT_FIRST_BUCKET = 2;
export const SLOTS_PER_CLASS = SLOT_FIRST_BUCKET + LATENCY_BUCKET_COUNT;
const STATUS_CLASSES = 5;

// The typed array holds zeros from the start, hence the casts: no slot is ever undefined.
function bump(values: Float64Array, base: number, durationMs: number): void {
  values[base] = (values[base] as number) + 1;
  values[base + SLOT_SUM_MS] = (values[base + SLOT_SUM_MS] as number) + durationMs;
  const bucket = base + SLOT_FIRST_BUCKET + latencyBucketIndex(durationMs);
  values[bucket] = (values[bucket] as number) + 1;
}

/** What the registry reads and zeroes when it seals a window. */
export interface Recorder {
  /** `r` for a route, `s` for a named series: the first part of its fields in the store. */
  readonly kind: "r" | "s";
  /** The series identity in the store: `METHOD\troute` or `name\tlabels`. */
  readonly id: string;
  /** SLOTS_PER_CLASS values per class (five for a route, one for a series). */
  readonly values: Float64Array;
  dirty: boolean;
}

/** One route template and method: requests by status class with their latency histogram. */
export class RouteRecorder implements Recorder {
  readonly kind = "r";
  readonly id: string;
  readonly values = new Float64Array(STATUS_CLASSES * SLOTS_PER_CLASS);
  dirty = false;

  constructor(
    readonly route: string,
    readonly method: string,
  ) {
    this.id = `${method}\t${route}`;
  }

  /** Counts one answer; a status outside 100–599 counts as a server error. */
  observe(status: number, durationMs: number): void {
    const statusClass = (status / 100) | 0;
    const base = (statusClass >= 1 && statusClass <= STATUS_CLASSES ? statusClass - 1 : 4) * SLOTS_PER_CLASS;
    bump(this.values, base, durationMs);
    this.dirty = true;
  }
}

/**
 * A small named series with labels fixed when it is made (`dependency{name=postgres}`): `add` counts
 * events (a breaker opening, a rate-limit refusal), `observe` counts a timed call into the histogram.
 */
export class SeriesRecorder implements Recorder {
  readonly kind = "s";
  readonly id: string;
  readonly values = new Float64Array(SLOTS_PER_CLASS);
  dirty = false;

  constructor(
    readonly name: string,
    readonly labels: string,
  ) {
    this.id = `${name}\t${labels}`;
  }

  add(count = 1): void {
    this.values[SLOT_COUNT] = (this.values[SLOT_COUNT] as number) + count;
    this.dirty = true;
  }

  observe(durationMs: number): void {
    bump(this.values, 0, durationMs);
    this.dirty = true;
  }
}

/** `a=1,b=2` with the keys sorted, so one series has one identity however its labels were written. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}=${labels[key]}`)
    .join(",");
}
