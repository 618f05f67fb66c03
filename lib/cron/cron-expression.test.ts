import { describe, expect, test } from "bun:test";
import { parseCronExpression } from "./cron-expression.ts";

const at = (iso: string) => new Date(iso);

describe("parseCronExpression", () => {
  test("matches the minute and hour it names, in UTC", () => {
    const daily = parseCronExpression("17 3 * * *");
    expect(daily.matches(at("2026-11-25T03:17:00Z"))).toBe(true);
    expect(daily.matches(at("2026-11-25T03:18:00Z"))).toBe(false);
    expect(daily.matches(at("2026-11-25T04:17:00Z"))).toBe(false);
  });

  test("supports steps, ranges and lists", () => {
    const expression = parseCronExpression("*/15 9-17 * * 1,3,5");
    expect(expression.matches(at("2026-11-25T09:45:00Z"))).toBe(true); // Wednesday
    expect(expression.matches(at("2026-11-25T09:50:00Z"))).toBe(false);
    expect(expression.matches(at("2026-11-26T09:45:00Z"))).toBe(false); // Thursday
  });

  test("with both day fields restricted, either one matching is enough", () => {
    const expression = parseCronExpression("0 0 1 * 0");
    expect(expression.matches(at("2026-12-01T00:00:00Z"))).toBe(true); // the 1st, a Tuesday
    expect(expression.matches(at("2026-11-29T00:00:00Z"))).toBe(true); // a Sunday
    expect(expression.matches(at("2026-11-30T00:00:00Z"))).toBe(false);
  });

  test("refuses malformed and out-of-range expressions", () => {
    expect(() => parseCronExpression("* * * *")).toThrow("five fields");
    expect(() => parseCronExpression("60 * * * *")).toThrow("out of range");
    expect(() => parseCronExpression("a * * * *")).toThrow("invalid cron field");
  });
});
