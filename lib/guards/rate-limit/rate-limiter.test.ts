import { describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, openTestDatabase, openTestStore } from "../../../test/backends.ts";
import { describeWithServers } from "../../../test/describe-with-servers.ts";
import { loadConfig } from "../../config/config.ts";
import { type RateLimitRule, resolveRateLimitRule } from "../../core/route-policy.ts";
import type { Database } from "../../db/database.ts";
import { AppError } from "../../errors/app-error.ts";
import { createLogger, createMemorySink } from "../../log/logger.ts";
import { openRuntime } from "../../runtime/runtime.ts";
import { settingsFromConfig, staticSettings } from "../../settings/settings.ts";
import type { WindowLimiter } from "./limit-result.ts";
import { openRateLimiter } from "./open-rate-limiter.ts";
import { createRateLimiter, type RateLimitOutcome, rateLimitHeaders } from "./rate-limiter.ts";

// Rules alone, as the limiter receives them: which scopes a route can resolve is route-policy.test.ts's concern.
const rulesOf = (...rules: RateLimitRule[]) => rules.map(resolveRateLimitRule);
const settingsFor = (emergency?: { enabled: boolean; limitDivisor: number }) => {
  const base = settingsFromConfig(loadConfig({ NODE_ENV: "test" }));
  return staticSettings({ ...base, emergency: { ...base.emergency, ...emergency } });
};
const EMERGENCY = { enabled: true, limitDivisor: 4 };

function limiterWith(options: { shared?: WindowLimiter; emergency?: typeof EMERGENCY } = {}) {
  const capture = createMemorySink();
  const settings = settingsFor(options.emergency);
  const shared =
    options.shared === undefined ? undefined : { limiter: options.shared, fallbackAfterMs: 250, instances: 1 };
  const limiter = createRateLimiter({ shared, settings, logger: createLogger({ sink: capture.sink }) });
  return { limiter, settings, logLines: capture.lines };
}

/** Stands in for Redis that cannot be reached: the outside world failing, not our code. */
const unreachableRedis: WindowLimiter = {
  limit: () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:6379")),
};

async function outcomes(
  count: number,
  check: () => RateLimitOutcome | undefined | Promise<RateLimitOutcome | undefined>,
): Promise<RateLimitOutcome[]> {
  const results: RateLimitOutcome[] = [];
  for (let i = 0; i < count; i++) {
    const outcome = await check();
    if (outcome === undefined) throw new Error("no outcome for a route with rules");
    results.push(outcome);
  }
  return results;
}

describe("createRateLimiter", () => {
  test("a route without rules is not limited and reports nothing", async () => {
    const { limiter } = limiterWith();
    expect(await limiter.check("GET /open", [], { ip: "203.0.113.1" })).toBeUndefined();
  });

  test("one rule: admits up to its limit, then refuses, reporting that rule", async () => {
    const { limiter } = limiterWith();
    const rules = rulesOf({ name: "minute", limit: 3, windowMs: 60_000, scope: "ip" });
    const results = await outcomes(4, () => limiter.check("GET /r", rules, { ip: "203.0.113.1" }));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.binding.remaining)).toEqual([2, 1, 0, 0]);
    expect(results[0]?.policy).toBe("3;w=60");
  });

  describe("several rules", () => {
    const burstAndSustained = rulesOf(
      { name: "burst", limit: 2, windowMs: 1_000, scope: "ip" },
      { name: "sustained", limit: 5, windowMs: 60_000, scope: "ip" },
    );

    test("RateLimit-Policy lists every rule, in order, with windows in seconds", async () => {
      const { limiter } = limiterWith();
      const outcome = await limiter.check("GET /r", burstAndSustained, { ip: "203.0.113.1" });
      expect(outcome?.policy).toBe("2;w=1, 5;w=60");
    });

    test("the most restrictive rule is the one reported: fewest remaining while admitted", async () => {
      const { limiter } = limiterWith();
      const outcome = await limiter.check("GET /r", burstAndSustained, { ip: "203.0.113.1" });
      expect(outcome?.binding).toMatchObject({ limit: 2, remaining: 1, success: true });

      const sustainedTighter = rulesOf(
        { name: "burst", limit: 10, windowMs: 1_000, scope: "ip" },
        { name: "sustained", limit: 3, windowMs: 60_000, scope: "ip" },
      );
      const second = await limiter.check("GET /s", sustainedTighter, { ip: "203.0.113.1" });
      expect(second?.binding).toMatchObject({ limit: 3, remaining: 2 });
    });

    test("the refusing rule is reported even when another admitted with no room left", async () => {
      const { limiter } = limiterWith();
      const rules = rulesOf(
        { name: "roomy", limit: 2, windowMs: 60_000, scope: "ip" },
        { name: "tight", limit: 1, windowMs: 60_000, scope: "ip" },
      );
      await limiter.check("GET /r", rules, { ip: "203.0.113.1" });
      const refused = await limiter.check("GET /r", rules, { ip: "203.0.113.1" });
      expect(refused?.allowed).toBe(false);
      expect(refused?.binding).toMatchObject({ success: false, limit: 1 });
    });

    test("any one rule refusing refuses the request", async () => {
      const { limiter } = limiterWith();
      const results = await outcomes(3, () => limiter.check("GET /r", burstAndSustained, { ip: "203.0.113.1" }));
      expect(results.map((r) => r.allowed)).toEqual([true, true, false]);
      expect(results[2]?.binding.limit).toBe(2);
    });
  });

  describe("scopes", () => {
    const perUser = rulesOf({ name: "user", limit: 2, windowMs: 60_000, scope: "user" });

    test("a user is counted across addresses, and two users apart", async () => {
      const { limiter } = limiterWith();
      await limiter.check("GET /r", perUser, { ip: "203.0.113.1", user: "u1" });
      await limiter.check("GET /r", perUser, { ip: "203.0.113.2", user: "u1" });
      expect((await limiter.check("GET /r", perUser, { ip: "203.0.113.3", user: "u1" }))?.allowed).toBe(false);
      expect((await limiter.check("GET /r", perUser, { ip: "203.0.113.1", user: "u2" }))?.allowed).toBe(true);
    });

    test("a caller without the scope's value (not signed in) is counted by address instead", async () => {
      const { limiter } = limiterWith();
      await limiter.check("GET /r", perUser, { ip: "203.0.113.9" });
      await limiter.check("GET /r", perUser, { ip: "203.0.113.9" });
      expect((await limiter.check("GET /r", perUser, { ip: "203.0.113.9" }))?.allowed).toBe(false);
      expect((await limiter.check("GET /r", perUser, { ip: "203.0.113.10" }))?.allowed).toBe(true);
    });

    test("each route has its own bucket unless the rule counts across routes", async () => {
      const { limiter } = limiterWith();
      const perRoute = rulesOf({ name: "r", limit: 1, windowMs: 60_000, scope: "ip" });
      const shared = rulesOf({ name: "api-key", limit: 1, windowMs: 60_000, scope: "key", acrossRoutes: true });
      const caller = { ip: "203.0.113.1", key: "k1" };
      expect((await limiter.check("GET /a", perRoute, caller))?.allowed).toBe(true);
      expect((await limiter.check("GET /b", perRoute, caller))?.allowed).toBe(true);
      expect((await limiter.check("GET /a", shared, caller))?.allowed).toBe(true);
      expect((await limiter.check("GET /b", shared, caller))?.allowed).toBe(false);
    });
  });

  describe("emergency mode", () => {
    test("divides every limit by the divisor (4 here), in the verdict and in RateLimit-Policy", async () => {
      const { limiter } = limiterWith({ emergency: EMERGENCY });
      const rules = rulesOf(
        { name: "a", limit: 8, windowMs: 60_000, scope: "ip" },
        { name: "b", limit: 100, windowMs: 3_600_000, scope: "ip" },
      );
      const results = await outcomes(3, () => limiter.check("GET /r", rules, { ip: "203.0.113.1" }));
      expect(results.map((r) => r.allowed)).toEqual([true, true, false]);
      expect(results[0]?.binding.limit).toBe(2);
      expect(results[0]?.policy).toBe("2;w=60, 25;w=3600");
    });

    test("never divides a limit below 1", async () => {
      const { limiter } = limiterWith({ emergency: EMERGENCY });
      const rules = rulesOf({ name: "a", limit: 3, windowMs: 60_000, scope: "ip" });
      const results = await outcomes(2, () => limiter.check("GET /r", rules, { ip: "203.0.113.1" }));
      expect(results.map((r) => r.allowed)).toEqual([true, false]);
      expect(results[0]?.policy).toBe("1;w=60");
    });

    test("switching it on through settings tightens the next check", async () => {
      const { limiter, settings } = limiterWith();
      const rules = rulesOf({ name: "a", limit: 8, windowMs: 60_000, scope: "ip" });
      expect((await limiter.check("GET /r", rules, { ip: "203.0.113.1" }))?.policy).toBe("8;w=60");
      await settings.update({ emergency: EMERGENCY }, "test");
      const tightened = await limiter.check("GET /r", rules, { ip: "203.0.113.1" });
      expect(tightened?.policy).toBe("2;w=60");
      expect(tightened?.binding.limit).toBe(2);
    });
  });

  describe("when Redis cannot be reached", () => {
    test("a fail-open rule falls back to the in-process limiter, which still enforces the limit", async () => {
      const { limiter, logLines } = limiterWith({ shared: unreachableRedis });
      const rules = rulesOf({ name: "open", limit: 2, windowMs: 60_000, scope: "ip", onStoreFailure: "open" });
      const results = await outcomes(3, () => limiter.check("GET /r", rules, { ip: "203.0.113.1" }));
      expect(results.map((r) => r.allowed)).toEqual([true, true, false]);
      expect(results[0]?.binding).toMatchObject({ limit: 2, remaining: 1 });
      // Operators must be able to see that limits are, for now, per instance only.
      const logged = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(logged).toContainEqual(expect.objectContaining({ level: "warn", rule: "open", route: "GET /r" }));
    });

    test(
      "a fail-closed rule refuses with 503 DEPENDENCY_UNAVAILABLE and " + "Retry-After, and says why in the log",
      async () => {
        const { limiter, logLines } = limiterWith({ shared: unreachableRedis });
        const rules = rulesOf({ name: "closed", limit: 100, windowMs: 60_000, scope: "ip", onStoreFailure: "closed" });
        const error = await Promise.resolve()
          .then(() => limiter.check("POST /v1/auth/login", rules, { ip: "203.0.113.1" }))
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({ code: "DEPENDENCY_UNAVAILABLE", status: 503, headers: { "retry-after": "1" } });
        const logged = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
        expect(logged).toContainEqual(
          expect.objectContaining({ level: "warn", rule: "closed", route: "POST /v1/auth/login" }),
        );
      },
    );

    test("one fail-closed rule among fail-open ones refuses the request", async () => {
      const { limiter } = limiterWith({ shared: unreachableRedis });
      const rules = rulesOf(
        { name: "burst", limit: 100, windowMs: 1_000, scope: "ip", onStoreFailure: "open" },
        { name: "sustained", limit: 1_000, windowMs: 60_000, scope: "ip", onStoreFailure: "closed" },
      );
      const error = await Promise.resolve()
        .then(() => limiter.check("GET /r", rules, { ip: "203.0.113.1" }))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toMatchObject({ code: "DEPENDENCY_UNAVAILABLE" });
    });
  });
});

describe("rateLimitHeaders", () => {
  const now = 1_000_000;
  const outcome = (allowed: boolean, reset: number): RateLimitOutcome => ({
    allowed,
    binding: { success: allowed, limit: 10, remaining: allowed ? 4 : 0, reset },
    policy: "10;w=60, 100;w=3600",
  });

  test(
    "an admitted request gets limit, remaining, seconds to reset (rounded " + "up) and the policy, but no Retry-After",
    () => {
      expect(rateLimitHeaders(outcome(true, now + 1_200), now)).toEqual({
        "ratelimit-limit": "10",
        "ratelimit-remaining": "4",
        "ratelimit-reset": "2",
        "ratelimit-policy": "10;w=60, 100;w=3600",
      });
    },
  );

  test("a refused one adds Retry-After equal to the reset", () => {
    expect(rateLimitHeaders(outcome(false, now + 30_000), now)).toMatchObject({
      "ratelimit-remaining": "0",
      "ratelimit-reset": "30",
      "retry-after": "30",
    });
  });

  test(
    "Retry-After is at least 1 second even when the window has just ended, " + "so clients never retry in a hot loop",
    () => {
      expect(rateLimitHeaders(outcome(false, now - 5), now)).toMatchObject({
        "ratelimit-reset": "0",
        "retry-after": "1",
      });
    },
  );
});

describeWithServers(["redis"], "over Redis (through the Upstash gateway)", ({ beforeAll, afterAll }) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase("pglite");
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => db.close());

  const instance = async () => {
    const config = loadConfig({ NODE_ENV: "test" });
    return openRateLimiter(
      await openRuntime(config, { db, store: await openTestStore("upstash"), settings: settingsFor() }),
    );
  };

  test("two instances on one Redis share a bucket: the limit holds across them", async () => {
    const [first, second] = [await instance(), await instance()];
    const route = `GET /shared-${crypto.randomUUID()}`;
    // Fail-closed: a call that missed Redis's deadline must not pass for a count made in-process.
    const rules = rulesOf({ name: "shared", limit: 4, windowMs: 60_000, scope: "ip", onStoreFailure: "closed" });
    const caller = { ip: "203.0.113.50" };
    // The first call on each instance loads the limiter's script; make it on another route and address.
    for (const limiter of [first, second])
      await limiter.check(`GET /warm-up-${crypto.randomUUID()}`, rules, { ip: "198.51.100.1" });
    const verdicts: boolean[] = [];
    for (let i = 0; i < 6; i++)
      verdicts.push((await (i % 2 === 0 ? first : second).check(route, rules, caller))?.allowed ?? true);
    expect(verdicts).toEqual([true, true, true, true, false, false]);
  });
});
