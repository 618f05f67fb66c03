/**
 * The W3C trace a piece of work belongs to: a request's (the caller's trace, or a new one) or a job run's.
 * It is found through AsyncLocalStorage, so log lines and outbound calls carry it without passing it down.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export const TRACEPARENT_HEADER = "traceparent";
export const TRACESTATE_HEADER = "tracestate";

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));
// One getRandomValues call per 256 ids: a call for 16 bytes alone costs more than the hex it becomes.
const pool = new Uint8Array(4096);
let poolAt = pool.length;

function randomHex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
  }
  let hex = "";
  for (const end = poolAt + bytes; poolAt < end; poolAt++) hex += HEX[pool[poolAt] as number];
  return hex;
}

/** A trace id and this unit of work's own span id; both made on first use, most requests never send one. */
export class TraceContext {
  #traceId?: string;
  #spanId?: string;

  /**
   * @param traceId the caller's, or undefined to start a new trace
   * @param flags `trace-flags` as two hex digits: the caller's sampled bit, or sampled for a new trace
   * @param tracestate the caller's vendor state, passed on unchanged
   */
  constructor(
    traceId: string | undefined,
    readonly flags = "01",
    readonly tracestate?: string,
  ) {
    this.#traceId = traceId;
  }

  get traceId(): string {
    this.#traceId ??= randomHex(16);
    return this.#traceId;
  }

  /** The parent id of every outbound call made on this work's behalf. */
  get spanId(): string {
    this.#spanId ??= randomHex(8);
    return this.#spanId;
  }
}

// Kept on globalThis like lib/core/process-wide.ts (which this layer cannot import): one per process under --hot.
const holder = globalThis as unknown as Record<symbol, AsyncLocalStorage<TraceContext> | undefined>;
const traces = (holder[Symbol.for("rampart.trace-contexts")] ??= new AsyncLocalStorage<TraceContext>());

/** Runs `run` so that what it logs and sends carries `trace`. */
export function runInTrace<T>(trace: TraceContext, run: () => T): T {
  return traces.run(trace, run);
}

/** The trace of the work running now, if any. */
export function currentTrace(): TraceContext | undefined {
  return traces.getStore();
}

/** `headers` with `traceparent` (our span as the parent) and `tracestate` when the trace has one. */
export function withTraceHeaders(headers: HeadersInit | undefined, trace: TraceContext): Headers {
  const traced = new Headers(headers);
  traced.set(TRACEPARENT_HEADER, `00-${trace.traceId}-${trace.spanId}-${trace.flags}`);
  if (trace.tracestate !== undefined) traced.set(TRACESTATE_HEADER, trace.tracestate);
  return traced;
}
