import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../config/config.ts";
import type { ResolvedRateLimitRule } from "../../core/route-policy.ts";
import { settingsFromConfig, staticSettings } from "../../settings/settings.ts";
import { createRateLimitOverrides, overridingPrefix } from "./rate-limit-overrides.ts";

const DECLARED: readonly ResolvedRateLimitRule[] = [
  {
    name: "default",
    limit: 300,
    windowMs: 60_000,
    scope: "ip",
    algorithm: "sliding-window",
    onStoreFailure: "open",
    acrossRoutes: false,
  },
];

describe("rate-limit overrides", () => {
  test("the longest prefix that covers the route wins, on whole path segments only", () => {
    const overrides = { "/v1": [], "/v1/auth": [], "/v1/auth/": [] };
    expect(overridingPrefix(overrides, "/v1/auth/login")).toBe("/v1/auth/");
    expect(overridingPrefix(overrides, "/v1/auth")).toBe("/v1/auth");
    expect(overridingPrefix(overrides, "/v1/authority")).toBe("/v1");
    expect(overridingPrefix(overrides, "/v10/x")).toBeUndefined();
    expect(overridingPrefix({ "/": [] }, "/anything")).toBe("/");
  });

  test(
    "a route with no override keeps its declared rules; an override takes " + "their place with defaults filled in",
    async () => {
      const settings = staticSettings(settingsFromConfig(loadConfig({ NODE_ENV: "test" })));
      const rulesFor = createRateLimitOverrides(settings);
      expect(rulesFor("/v1/auth/login", DECLARED)).toBe(DECLARED);
      await settings.update(
        { rateLimitOverrides: { "/v1/auth": [{ name: "strict", limit: 5, windowMs: 60_000, scope: "ip" }] } },
        "test",
      );
      expect(rulesFor("/v1/auth/login", DECLARED)).toEqual([
        {
          name: "strict",
          limit: 5,
          windowMs: 60_000,
          scope: "ip",
          algorithm: "sliding-window",
          onStoreFailure: "open",
          acrossRoutes: false,
        },
      ]);
      expect(rulesFor("/v1/me", DECLARED)).toBe(DECLARED);
      // Resolved once per settings version: the same array each time, so per-rule-set caches keep working.
      expect(rulesFor("/v1/auth/login", DECLARED)).toBe(rulesFor("/v1/auth/login", DECLARED));
      await settings.update({ rateLimitOverrides: {} }, "test");
      expect(rulesFor("/v1/auth/login", DECLARED)).toBe(DECLARED);
    },
  );
});
