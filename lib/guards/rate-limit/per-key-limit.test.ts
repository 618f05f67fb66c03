import { expect, test } from "bun:test";
import type { ResolvedRateLimitRule } from "../../core/route-policy.ts";
import { withPerKeyLimit } from "./per-key-limit.ts";

const ROUTE_RULES: readonly ResolvedRateLimitRule[] = [
  {
    name: "burst",
    limit: 10,
    windowMs: 1_000,
    scope: "ip",
    algorithm: "sliding-window",
    onStoreFailure: "open",
    acrossRoutes: false,
  },
];

test("a key's limit is added to the route's rules as a per-key, cross-route rule per minute", () => {
  const rules = withPerKeyLimit(ROUTE_RULES, 120);
  expect(rules.slice(0, 1)).toEqual([...ROUTE_RULES]);
  expect(rules[1]).toMatchObject({ limit: 120, windowMs: 60_000, scope: "key", acrossRoutes: true });
  expect(ROUTE_RULES).toHaveLength(1);
});

test("the combined list is the same object for the same rules and limit, and a new one for another limit", () => {
  expect(withPerKeyLimit(ROUTE_RULES, 120)).toBe(withPerKeyLimit(ROUTE_RULES, 120));
  expect(withPerKeyLimit(ROUTE_RULES, 60)).not.toBe(withPerKeyLimit(ROUTE_RULES, 120));
  expect(withPerKeyLimit(ROUTE_RULES, 60)[1]?.limit).toBe(60);
});
