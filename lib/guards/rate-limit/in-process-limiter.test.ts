import { describe, expect, test } from "bun:test";
import { InProcessLimiter } from "./in-process-limiter.ts";

/** A limiter on a clock the test moves by hand, starting at the beginning of a window. */
function limiterAt(start = 1_000_000) {
  const clock = { now: start };
  return { limiter: new InProcessLimiter(() => clock.now), clock };
}

const admitted = (results: { success: boolean }[]) => results.filter((r) => r.success).length;

describe("InProcessLimiter", () => {
  test("admits exactly the limit within a window, counting remaining down to 0, then refuses", () => {
    const { limiter } = limiterAt();
    const results = Array.from({ length: 7 }, () => limiter.take("ip:a", 5, 1_000));
    expect(results.map((r) => r.success)).toEqual([true, true, true, true, true, false, false]);
    expect(results.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    for (const result of results) expect(result.limit).toBe(5);
  });

  test("reset is the end of the current fixed window", () => {
    const { limiter, clock } = limiterAt(1_000_000);
    clock.now += 250;
    expect(limiter.take("ip:a", 5, 1_000).reset).toBe(1_001_000);
  });

  test("the async limit() answers the same as take()", async () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 3; i++) await limiter.limit("k", 3, 1_000);
    expect((await limiter.limit("k", 3, 1_000)).success).toBe(false);
  });

  test("identifiers are counted apart", () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 3; i++) limiter.take("ip:a", 3, 1_000);
    expect(limiter.take("ip:a", 3, 1_000).success).toBe(false);
    expect(limiter.take("ip:b", 3, 1_000).success).toBe(true);
  });

  test("the same identifier under two window lengths is two counters", () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 3; i++) limiter.take("ip:a", 3, 1_000);
    expect(limiter.take("ip:a", 3, 60_000).success).toBe(true);
  });

  test("the window slides: a full previous window still weighs on the next in proportion to the overlap", () => {
    const { limiter, clock } = limiterAt(1_000_000);
    expect(admitted(Array.from({ length: 10 }, () => limiter.take("k", 10, 1_000)))).toBe(10);
    // Halfway into the next window, half of the previous one still counts: 5 more fit.
    clock.now += 1_500;
    expect(admitted(Array.from({ length: 10 }, () => limiter.take("k", 10, 1_000)))).toBe(5);
  });

  test("a burst at the end of one window and the start of the next cannot double the limit", () => {
    const { limiter, clock } = limiterAt(1_000_000);
    clock.now += 990;
    const late = admitted(Array.from({ length: 10 }, () => limiter.take("k", 10, 1_000)));
    clock.now += 20;
    const early = admitted(Array.from({ length: 10 }, () => limiter.take("k", 10, 1_000)));
    expect(late).toBe(10);
    expect(late + early).toBeLessThanOrEqual(11);
  });

  test("after two quiet windows the caller starts from a full allowance", () => {
    const { limiter, clock } = limiterAt(1_000_000);
    for (let i = 0; i < 10; i++) limiter.take("k", 10, 1_000);
    clock.now += 2_000;
    const result = limiter.take("k", 10, 1_000);
    expect(result).toMatchObject({ success: true, remaining: 9 });
  });

  test("refused attempts do not count against the next window", () => {
    const { limiter, clock } = limiterAt(1_000_000);
    for (let i = 0; i < 100; i++) limiter.take("k", 2, 1_000);
    clock.now += 1_500;
    // Half of the previous window still weighs: half of its 2 admitted requests, not of its 100 attempts.
    expect(admitted(Array.from({ length: 3 }, () => limiter.take("k", 2, 1_000)))).toBe(1);
  });

  test("counters of long-gone windows are swept without disturbing live ones", () => {
    const { limiter, clock } = limiterAt(1_000_000);
    for (let i = 0; i < 3; i++) limiter.take("live", 3, 60_000);
    for (let i = 0; i < 10_000; i++) {
      clock.now += 1;
      limiter.take(`short-lived:${i}`, 1, 10);
    }
    // Still in the same minute: the live counter survived the sweep and remains exhausted.
    expect(limiter.take("live", 3, 60_000).success).toBe(false);
    expect(limiter.take("short-lived:0", 1, 10).success).toBe(true);
  });
});

describe("InProcessLimiter as the fallback of a shared store", () => {
  test("takeShare admits at most the share a window, whatever the limit", () => {
    const { limiter } = limiterAt();
    expect(admitted(Array.from({ length: 10 }, () => limiter.takeShare("k", 10, 4, 1_000)))).toBe(4);
  });

  test("takeShare admits no more than the store's last count leaves of the limit, until the window ends", () => {
    const { limiter, clock } = limiterAt(1_000_000);
    limiter.observe("k", 1_000, 8);
    expect(admitted(Array.from({ length: 10 }, () => limiter.takeShare("k", 10, 5, 1_000)))).toBe(2);
    clock.now += 2_000;
    expect(admitted(Array.from({ length: 10 }, () => limiter.takeShare("k", 10, 5, 1_000)))).toBe(5);
  });
});
