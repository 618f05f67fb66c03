/**
 * The process's recorders and the deltas sealed from them, one registry per process (an instance): recording
 * is synchronous and local, and `flush` adds the sealed deltas into the store's minute hashes.
 *
 * 1. A window closes at the next minute boundary or FLUSH_EVERY_MS after it opened, whichever comes first;
 *    sealing moves the recorders' values into `pending` under the window's minute and zeroes them, so each
 *    delta lands in the minute it was recorded in.
 * 2. A write takes all of `pending`; if the store fails, the deltas go back into `pending`.
 * 3. A minute older than the previous one may already be rolled up (2 min grace): its deltas move into the
 *    newest minute instead. Totals stay exact through an outage and `pending` holds at most two minutes.
 * 4. What an instance recorded since its last write is lost if it is frozen or killed before the next one:
 *    at most FLUSH_EVERY_MS of its traffic (a drain on shutdown writes it).
 */
import { processWide } from "../core/process-wide.ts";
import { fieldName, MINUTE_KEY_TTL_MS, MINUTE_MS, minuteKey, minuteOf, storedValue } from "./minute-fields.ts";
import { formatLabels, type Recorder, RouteRecorder, SeriesRecorder, SLOTS_PER_CLASS } from "./recorders.ts";

/** At most one write to the store per instance this often (a drain on shutdown writes at once). */
export const FLUSH_EVERY_MS = 10_000;

/** What a flush needs of the store (lib/store/store.ts). */
export interface MetricsSink {
  incrementFields(key: string, fields: Record<string, number>, ttlMs: number): Promise<void>;
}

type MinuteDeltas = Map<string, number>;

export class MetricsRegistry {
  private readonly routes = new Map<string, RouteRecorder>();
  private readonly namedSeries = new Map<string, SeriesRecorder>();
  private readonly recorders: Recorder[] = [];
  /** The store field of each slot of each recorder, made with it: a seal builds no strings. */
  private readonly fieldNames: string[][] = [];
  private readonly pending = new Map<number, MinuteDeltas>();
  private windowMinute = -1;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private writing: Promise<boolean> | undefined;
  /** When the open window must be sealed: the request path compares its clock with this and nothing else. */
  sealAt = 0;

  /** The recorder of one route template and method, made once (when the app is built). */
  route(route: string, method: string): RouteRecorder {
    const id = `${method}\t${route}`;
    let recorder = this.routes.get(id);
    if (recorder === undefined) {
      recorder = new RouteRecorder(route, method);
      this.routes.set(id, recorder);
      this.register(recorder);
    }
    return recorder;
  }

  /** The recorder of a named series with fixed labels, made once by whoever holds it. */
  series(name: string, labels: Record<string, string> = {}): SeriesRecorder {
    const formatted = formatLabels(labels);
    const id = `${name}\t${formatted}`;
    let recorder = this.namedSeries.get(id);
    if (recorder === undefined) {
      recorder = new SeriesRecorder(name, formatted);
      this.namedSeries.set(id, recorder);
      this.register(recorder);
    }
    return recorder;
  }

  private register(recorder: Recorder): void {
    this.recorders.push(recorder);
    this.fieldNames.push(
      Array.from(recorder.values, (_, slot) =>
        fieldName(
          recorder.kind,
          recorder.id,
          recorder.kind === "r" ? 1 + Math.floor(slot / SLOTS_PER_CLASS) : 0,
          slot % SLOTS_PER_CLASS,
        ),
      ),
    );
  }

  /** Closes the open window at `now`: its deltas join `pending` under the minute they were recorded in. */
  seal(now: number): void {
    const current = minuteOf(now);
    const minute = this.windowMinute < 0 ? current : this.windowMinute;
    for (let r = 0; r < this.recorders.length; r++) {
      const recorder = this.recorders[r] as Recorder;
      if (!recorder.dirty) continue;
      recorder.dirty = false;
      const deltas = this.deltasOf(minute);
      const values = recorder.values;
      const fields = this.fieldNames[r] as string[];
      for (let slot = 0; slot < values.length; slot++) {
        const value = values[slot] as number;
        if (value === 0) continue;
        values[slot] = 0;
        const field = fields[slot] as string;
        deltas.set(field, (deltas.get(field) ?? 0) + value);
      }
    }
    this.windowMinute = current;
    this.sealAt = Math.min(now + FLUSH_EVERY_MS, (current + 1) * MINUTE_MS);
    this.moveStaleMinutes(current);
  }

  /**
   * Seals the open window and, when FLUSH_EVERY_MS has passed since the last write (or `force`), adds every
   * sealed delta into the store in one pipelined call per minute. Resolves false when the store failed; the
   * deltas are then kept for the next flush.
   */
  flush(sink: MetricsSink, now: number, force = false): Promise<boolean> {
    this.seal(now);
    // A write under way took an earlier batch: a forced flush (a drain) waits for it, then writes the rest.
    if (this.writing !== undefined) return force ? this.writing.then(() => this.flush(sink, now, true)) : this.writing;
    const recent = now >= this.lastWriteAt && now - this.lastWriteAt < FLUSH_EVERY_MS;
    if (this.pending.size === 0 || (recent && !force)) return Promise.resolve(true);
    this.lastWriteAt = now;
    const batch = [...this.pending].sort(([a], [b]) => a - b);
    this.pending.clear();
    this.writing = this.write(sink, batch).finally(() => {
      this.writing = undefined;
    });
    return this.writing;
  }

  /** Sealed deltas not yet in the store, by minute: what an outage holds in memory. */
  pendingMinutes(): number[] {
    return [...this.pending.keys()];
  }

  private async write(sink: MetricsSink, batch: [number, MinuteDeltas][]): Promise<boolean> {
    for (let i = 0; i < batch.length; i++) {
      const [minute, deltas] = batch[i] as [number, MinuteDeltas];
      const fields: Record<string, number> = {};
      for (const [field, value] of deltas)
        fields[field] = storedValue(Number(field.slice(field.lastIndexOf("\t") + 1)), value);
      try {
        await sink.incrementFields(minuteKey(minute), fields, MINUTE_KEY_TTL_MS);
      } catch {
        for (const [late, rest] of batch.slice(i)) for (const [field, value] of rest) this.add(late, field, value);
        this.moveStaleMinutes(Math.max(this.windowMinute, minute));
        return false;
      }
    }
    return true;
  }

  private deltasOf(minute: number): MinuteDeltas {
    let deltas = this.pending.get(minute);
    if (deltas === undefined) {
      deltas = new Map();
      this.pending.set(minute, deltas);
    }
    return deltas;
  }

  private add(minute: number, field: string, value: number): void {
    const deltas = this.deltasOf(minute);
    deltas.set(field, (deltas.get(field) ?? 0) + value);
  }

  // Step 3: a minute before the previous one may be rolled up already, so its deltas count in `current`.
  private moveStaleMinutes(current: number): void {
    for (const [minute, deltas] of this.pending) {
      if (minute >= current - 1) continue;
      this.pending.delete(minute);
      for (const [field, value] of deltas) this.add(current, field, value);
    }
  }
}

/** The process's registry: one per instance, kept across `bun --hot` reloads. */
export function metricsRegistry(): MetricsRegistry {
  return processWide("metrics", () => new MetricsRegistry());
}
