/**
 * The common security suite over every route in functions/: on PGlite always, and on PostgreSQL with Redis
 * (through the Upstash gateway, where the guess budget is shared) when the test servers are set.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Elysia } from "elysia";
import { perOrg, READ } from "../lib/core/policy-presets.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { TEST_POSTGRES_URL, TEST_REDIS_URL } from "./backends.ts";
import {
  describeCommonRouteSecurity,
  openRouteSecurityFixture,
  type RouteSecurityFixture,
} from "./common-route-security.ts";

// A route's guess-budget test makes 32 requests; each is quick, but the machine may be loaded.
setDefaultTimeout(30_000);

// Shaped like the README's worked example: no route in functions/ takes API keys only yet.
const keyOnly = defineRouteGroup("key-only", () =>
  new Elysia({ name: "key-only" }).use(policyPlugin).get("/v1/orgs/:orgId/widgets", ({ org }) => ({ org: org.id }), {
    key: { ...READ, scopes: ["orgs:read"], rateLimits: [perOrg(600, "1m")] },
    org: "orgId",
  }),
);

const fixtures: { label: string; fixture: RouteSecurityFixture }[] = [
  { label: "pglite", fixture: await openRouteSecurityFixture("pglite", "memory", [keyOnly]) },
];
if (TEST_POSTGRES_URL !== undefined && TEST_REDIS_URL !== undefined)
  fixtures.push({ label: "postgres+redis", fixture: await openRouteSecurityFixture("postgres", "upstash", [keyOnly]) });
afterAll(() => Promise.all(fixtures.map(({ fixture }) => fixture.close())));

const routes = fixtures[0]?.fixture.app.routes.routes ?? [];

describe("the common route security suite", () => {
  test("covers every route of every group in functions/, public ones included", () => {
    const paths = new Set(routes.map((route) => route.path));
    for (const path of ["/v1/auth/login", "/v1/orgs/:orgId/keys", "/admin/settings", "/cron/:job", "/health/ready"])
      expect(paths).toContain(path);
    // A route added beside them is covered without a line of its own.
    for (const path of ["/v1/orgs/:orgId/widgets"]) expect(paths).toContain(path);
  });
});

for (const { label, fixture } of fixtures) describeCommonRouteSecurity(label, routes, () => fixture);
