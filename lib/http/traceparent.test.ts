import { describe, expect, test } from "bun:test";
import { MAX_TRACESTATE_LENGTH, parseTraceparent, traceOf, validTracestate } from "./traceparent.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const VALID = `00-${TRACE_ID}-${PARENT_ID}-01`;

describe("parseTraceparent (W3C Trace Context Level 1)", () => {
  test("reads the four fields of a version 00 header", () => {
    expect(parseTraceparent(VALID)).toEqual({ version: "00", traceId: TRACE_ID, parentId: PARENT_ID, flags: "01" });
    expect(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-00`)?.flags).toBe("00");
  });

  test("accepts a later version whose first four fields parse and whose rest starts with '-'", () => {
    expect(parseTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01`)?.traceId).toBe(TRACE_ID);
    expect(parseTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01-what-the-future-will-be-like`)?.traceId).toBe(TRACE_ID);
    expect(parseTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01.what-the-future-will-be-like`)).toBeUndefined();
  });

  test.each([
    ["version ff", `ff-${TRACE_ID}-${PARENT_ID}-01`],
    ["version 00 with more after the flags", `00-${TRACE_ID}-${PARENT_ID}-01-extra`],
    ["an all-zero trace id", `00-${"0".repeat(32)}-${PARENT_ID}-01`],
    ["an all-zero parent id", `00-${TRACE_ID}-${"0".repeat(16)}-01`],
    ["uppercase hex in the trace id", `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`],
    ["uppercase hex in the parent id", `00-${TRACE_ID}-00F067AA0BA902B7-01`],
    ["uppercase version", `0A-${TRACE_ID}-${PARENT_ID}-01`],
    ["non-hex in the version", `0g-${TRACE_ID}-${PARENT_ID}-01`],
    ["non-hex in the flags", `00-${TRACE_ID}-${PARENT_ID}-0x`],
    ["a short trace id", `00-${TRACE_ID.slice(1)}-${PARENT_ID}-01`],
    ["a long parent id", `00-${TRACE_ID}-${PARENT_ID}0-01`],
    ["a one-digit version", `0-${TRACE_ID}-${PARENT_ID}-01`],
    ["a one-digit flags field", `00-${TRACE_ID}-${PARENT_ID}-1`],
    ["another separator", `00_${TRACE_ID}_${PARENT_ID}_01`],
    ["a later version cut short", `cc-${TRACE_ID}-${PARENT_ID}`],
    ["the empty string", ""],
  ])("refuses %s", (_, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });
});

describe("validTracestate", () => {
  test("keeps a valid list exactly as received, multi-tenant keys and empty members included", () => {
    for (const value of ["rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7", "t@vendor=a b,,x=1 "])
      expect(validTracestate(value)).toBe(value);
  });

  test.each([
    ["a key with uppercase", "Rojo=1"],
    ["a member without '='", "rojo"],
    ["a value with '='", "rojo=a=b"],
    ["a duplicated key", "rojo=1,rojo=2"],
    ["33 members", Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(",")],
    ["a list longer than the bound", `k=${"v".repeat(MAX_TRACESTATE_LENGTH)}`],
    ["an empty list", " , "],
  ])("drops %s", (_, value) => {
    expect(validTracestate(value)).toBeUndefined();
  });
});

describe("traceOf", () => {
  test("continues the caller's trace with its sampled bit and tracestate, and a span id of its own", () => {
    const trace = traceOf(new Headers({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-03`, tracestate: "rojo=1" }));
    expect([trace.traceId, trace.flags, trace.tracestate]).toEqual([TRACE_ID, "01", "rojo=1"]);
    expect(trace.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(trace.spanId).not.toBe(PARENT_ID);
  });

  test("an invalid traceparent starts a new trace and its tracestate is dropped", () => {
    const trace = traceOf(new Headers({ traceparent: `00-${"0".repeat(32)}-${PARENT_ID}-01`, tracestate: "rojo=1" }));
    expect(trace.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(trace.traceId).not.toBe("0".repeat(32));
    expect(trace.tracestate).toBeUndefined();
    expect(traceOf(new Headers()).traceId).not.toBe(trace.traceId);
  });
});
