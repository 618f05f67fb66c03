/**
 * W3C Trace Context Level 1 (https://www.w3.org/TR/trace-context/): a caller's `traceparent` and `tracestate`
 * are read here. Anything malformed is ignored and a new trace starts; it is never an error answer.
 */
import { TRACEPARENT_HEADER, TRACESTATE_HEADER, TraceContext } from "../trace/trace-context.ts";

export interface Traceparent {
  version: string;
  traceId: string;
  parentId: string;
  flags: string;
}

// version-traceid-parentid-flags, lowercase hex; a later version may append fields after a `-`.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:$|-)/;
const ALL_ZEROS = /^0+$/;
// A vendor's state is opaque to us, so it is bounded: longer lists are dropped, not truncated.
export const MAX_TRACESTATE_LENGTH = 512;
const MAX_TRACESTATE_MEMBERS = 32;
const KEY = "(?:[a-z][a-z0-9_*/-]{0,255}|[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13})";
const VALUE = "[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,255}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]";
const TRACESTATE_MEMBER = new RegExp(`^(${KEY})=${VALUE}$`);

/**
 * @returns the fields of a valid `traceparent`, else undefined.
 * @example parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?.traceId
 */
export function parseTraceparent(value: string): Traceparent | undefined {
  const match = TRACEPARENT.exec(value);
  if (match === null) return undefined;
  const [, version, traceId, parentId, flags] = match as unknown as [string, string, string, string, string];
  if (version === "ff" || (version === "00" && value.length !== 55)) return undefined;
  if (ALL_ZEROS.test(traceId) || ALL_ZEROS.test(parentId)) return undefined;
  return { version, traceId, parentId, flags };
}

/** @returns `value` unchanged when it is a valid `tracestate` list within the bound, else undefined. */
export function validTracestate(value: string): string | undefined {
  if (value.length > MAX_TRACESTATE_LENGTH) return undefined;
  const keys = new Set<string>();
  for (const entry of value.split(",")) {
    const member = entry.trim();
    if (member === "") continue;
    const key = TRACESTATE_MEMBER.exec(member)?.[1];
    if (key === undefined || keys.has(key)) return undefined;
    keys.add(key);
  }
  return keys.size === 0 || keys.size > MAX_TRACESTATE_MEMBERS ? undefined : value;
}

/** The request's trace: the caller's when its `traceparent` is valid, else a new one. */
export function traceOf(headers: Headers): TraceContext {
  const sent = headers.get(TRACEPARENT_HEADER);
  const parent = sent === null ? undefined : parseTraceparent(sent);
  if (parent === undefined) return new TraceContext(undefined);
  const state = headers.get(TRACESTATE_HEADER);
  // Level 1 defines only the sampled bit; the others are passed on as zero.
  const flags = (Number.parseInt(parent.flags, 16) & 1) === 1 ? "01" : "00";
  return new TraceContext(parent.traceId, flags, state === null ? undefined : validTracestate(state));
}
