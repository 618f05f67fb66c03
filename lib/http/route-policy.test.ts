import { describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import type { RateLimitScope, RoutePolicy } from "../core/route-policy.ts";
import { policyPlugin } from "./policy-plugin.ts";
import { createRouteTable } from "./route-table.ts";

const tableOf = (path: string, policy: RoutePolicy) =>
  createRouteTable(new Elysia().use(policyPlugin).get(path, () => ({}), { policy }).routes);
const limitedPer = (scope: RateLimitScope) => [{ name: "limit", limit: 10, windowMs: 60_000, scope }];

describe("route policies that cannot be enforced fail when the app is built", () => {
  test.each([
    [
      "org",
      "/v1/things",
      { access: "user" },
      'route GET /v1/things: rate limit "limit" counts per org, which access "user" without org binding cannot resolve',
    ],
    [
      "user",
      "/v1/things",
      { access: "public" },
      'route GET /v1/things: rate limit "limit" counts per user, ' +
        'which access "public" without org binding cannot resolve',
    ],
    [
      "key",
      "/v1/orgs/:orgId/things",
      { access: "user", org: { param: "orgId" } },
      'route GET /v1/orgs/:orgId/things: rate limit "limit" counts per key, which access "user" cannot resolve',
    ],
  ] as const)("a per-%s limit on %s", (scope, path, policy, message) => {
    expect(() => tableOf(path, { ...policy, rateLimits: limitedPer(scope) })).toThrow(message);
  });

  test("a rule its route can resolve is accepted", () => {
    expect(
      tableOf("/v1/orgs/:orgId/things", {
        access: "user-or-key",
        org: { param: "orgId" },
        rateLimits: limitedPer("org"),
      }).routes,
    ).toHaveLength(1);
    expect(tableOf("/v1/ingest", { access: "key", rateLimits: limitedPer("org") }).routes).toHaveLength(1);
  });
});

describe("scopes are checked by the compiler", () => {
  test("a misspelt scope does not compile", () => {
    // @ts-expect-error "keys:reed" is not a declared API key scope.
    const policy: RoutePolicy = { access: "key", scopes: ["keys:reed"] };
    expect(policy.scopes as readonly string[]).toEqual(["keys:reed"]);
  });
});
