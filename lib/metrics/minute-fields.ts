/**
 * How a minute of metrics sits in the store: one hash per minute, `metrics:minute:<epoch minute>`, whose fields
 * are `<kind>\t<id>\t<status class>\t<slot>` (slots of recorders.ts; the sum in whole microseconds, since
 * HINCRBY adds integers). One key per minute lets the rollup find a minute's data without SCAN.
 */
import { SLOT_SUM_MS } from "./recorders.ts";

export const MINUTE_MS = 60_000;
/** Long enough for the rollup to catch up after hours of skipped runs, short enough to bound a lost store. */
export const MINUTE_KEY_TTL_MS = 3 * 3_600_000;

export const minuteOf = (epochMs: number): number => Math.floor(epochMs / MINUTE_MS);
export const minuteKey = (minute: number): string => `metrics:minute:${minute}`;

export function fieldName(kind: string, id: string, statusClass: number, slot: number): string {
  return `${kind}\t${id}\t${statusClass}\t${slot}`;
}

/** The integer a slot's value is stored as: microseconds for the sum, the count itself otherwise. */
export const storedValue = (slot: number, value: number): number =>
  slot === SLOT_SUM_MS ? Math.round(value * 1000) : value;

/** One series and status class of a minute, read back from its fields. */
export interface StoredSeries {
  kind: string;
  /** The two parts of the id: method and route, or name and labels. */
  first: string;
  second: string;
  statusClass: number;
  count: number;
  sumMs: number;
  buckets: number[];
}

export function parseMinuteFields(fields: Record<string, number>, bucketCount: number): StoredSeries[] {
  const bySeries = new Map<string, StoredSeries>();
  for (const [field, value] of Object.entries(fields)) {
    const [kind, first, second, statusClass, slot] = field.split("\t");
    if (kind === undefined || first === undefined || second === undefined || slot === undefined) continue;
    const id = `${kind}\t${first}\t${second}\t${statusClass}`;
    let series = bySeries.get(id);
    if (series === undefined) {
      const buckets = new Array<number>(bucketCount).fill(0);
      series = { kind, first, second, statusClass: Number(statusClass), count: 0, sumMs: 0, buckets };
      bySeries.set(id, series);
    }
    const index = Number(slot);
    if (index === 0) series.count = value;
    else if (index === SLOT_SUM_MS) series.sumMs = value / 1000;
    else if (index - 2 < bucketCount) series.buckets[index - 2] = value;
  }
  return [...bySeries.values()];
}
