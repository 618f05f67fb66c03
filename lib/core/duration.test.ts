import { describe, expect, test } from "bun:test";
import { type Duration, msOf } from "./duration.ts";

describe("msOf", () => {
  test.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["1m", 60_000],
    ["15m", 900_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
    ["1.5s", 1_500],
  ] as const)("%s is %d ms", (duration, ms) => {
    expect(msOf(duration)).toBe(ms);
  });

  test.each(["0m", "-1m", "1e3s", "0.0001ms"] as Duration[])(
    "%s is refused at start-up, not counted as an empty window",
    (duration) => {
      expect(() => msOf(duration)).toThrow(`"${duration}" is not a duration`);
    },
  );

  test("a unit that is not one does not compile", () => {
    // @ts-expect-error "1min" is not a Duration.
    const window: Duration = "1min";
    expect(() => msOf(window)).toThrow();
  });
});
