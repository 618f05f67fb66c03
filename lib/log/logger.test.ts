import { describe, expect, test } from "bun:test";
import { createLogger, createMemorySink } from "./logger.ts";
import { REDACTED } from "./redact.ts";

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

  test(
    "a child's fields and a line's fields are both kept, secrets " + "redacted in each, the line's winning on a clash",
    () => {
      const capture = createMemorySink();
      const child = createLogger({ sink: capture.sink }).child({ job: "prune", password: "hunter22", at: "child" });
      child.warn("done", { rows: 3, at: "line", nested: { apiKey: "rk_secret" }, url: "postgres://app:pw@db/app" });
      const [record] = capture.records();
      expect(record).toEqual({
        level: "warn",
        time: expect.any(String),
        msg: "done",
        job: "prune",
        password: REDACTED,
        at: "line",
        rows: 3,
        nested: { apiKey: REDACTED },
        url: `postgres://app:${REDACTED}@db/app`,
      });
      expect(capture.lines[0]).not.toContain("hunter22");
      expect(capture.lines[0]).not.toContain("rk_secret");
    },
  );

  test("a message is escaped and redacted like any other text, and undefined fields are left out", () => {
    const capture = createMemorySink();
    createLogger({ sink: capture.sink }).error('quote " and\nnewline, Bearer abc.def', {
      missing: undefined,
      list: [1, "two"],
    });
    // One line: the newline inside the message is escaped, not written.
    expect(capture.lines[0]?.includes("\n")).toBe(false);
    expect(capture.lines[0]?.includes("\\n")).toBe(true);
    expect(capture.records()[0]).toEqual({
      level: "error",
      time: expect.any(String),
      msg: `quote " and\nnewline, Bearer ${REDACTED}`,
      list: [1, "two"],
    });
  });

  test("time is an ISO 8601 timestamp of the moment of writing", () => {
    const capture = createMemorySink();
    const before = Date.now();
    createLogger({ sink: capture.sink }).info("now");
    const time = Date.parse(String(capture.records()[0]?.time));
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
    expect(new Date(time).toISOString()).toBe(String(capture.records()[0]?.time));
  });
});
