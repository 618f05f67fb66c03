import { describe, expect, test } from "bun:test";
import { createLogger, createMemorySink } from "./logger.ts";
import { REDACTED, redact } from "./redact.ts";

describe("redact", () => {
  test("replaces secret-named fields at any depth", () => {
    const out = redact({ user: "ana", password: "p4ss", nested: { apiKey: "rk_1", headers: { authorization: "Bearer x", Cookie: "s=1" } } });
    expect(out).toEqual({ user: "ana", password: REDACTED, nested: { apiKey: REDACTED, headers: { authorization: REDACTED, Cookie: REDACTED } } });
  });

  test("removes credentials from connection strings and bearer tokens inside text", () => {
    expect(redact("connect postgres://admin:hunter2@db:5432/app failed")).toBe(`connect postgres://admin:${REDACTED}@db:5432/app failed`);
    expect(redact("sent Bearer eyJhbGciOi.abc.def")).toBe(`sent Bearer ${REDACTED}`);
  });

  test("errors are reduced to name and redacted message", () => {
    expect(redact(new Error("bad postgres://u:pw@h/db"))).toEqual({ name: "Error", message: `bad postgres://u:${REDACTED}@h/db` });
  });
});

describe("createLogger", () => {
  test("writes one JSON object per line with level, time and message, without secrets", () => {
    const capture = createMemorySink();
    createLogger({ sink: capture.sink }).child({ requestId: "r1" }).info("hello", { token: "t0ps3cret" });
    expect(capture.lines).toHaveLength(1);
    const record = capture.records()[0];
    expect(record).toMatchObject({ level: "info", msg: "hello", requestId: "r1", token: REDACTED });
    expect(Number.isNaN(Date.parse(String(record?.time)))).toBe(false);
    expect(capture.lines[0]).not.toContain("t0ps3cret");
  });

  test("drops records below the configured level", () => {
    const capture = createMemorySink();
    const logger = createLogger({ level: "warn", sink: capture.sink });
    logger.info("quiet");
    logger.warn("loud");
    expect(capture.records().map((r) => r.msg)).toEqual(["loud"]);
  });
});
