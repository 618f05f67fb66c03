import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { loadRouteGroups } from "../../tools/route-groups.ts";
import type { RoutePolicy } from "../core/route-policy.ts";
import { buildApp } from "../http/app.ts";
import { policyPlugin } from "../http/policy-plugin.ts";
import { createRouteTable } from "../http/route-table.ts";

const tableOf = (path: string, policy: RoutePolicy, method: "get" | "post" = "get") =>
  createRouteTable(new Elysia().use(policyPlugin)[method](path, () => ({}), { policy }).routes);

// What lets a shared cache (a CDN, whose key ignores Authorization) keep an answer.
const SHARED_CACHE = /(^|[\s,])(public|s-maxage)\b/i;

describe("a cache a CDN could share is refused on routes that are not public", () => {
  test.each(["user", "user-or-key", "key", "admin", "cron"] as const)("access %s with scope public", (access) => {
    expect(() => tableOf("/v1/things", { access, cache: { scope: "public", ttl: "30s" } })).toThrow(
      `route GET /v1/things declares a public cache but its access is "${access}"`,
    );
  });

  test("a Cache-Control string with public or s-maxage on an authenticated route", () => {
    for (const cache of ["public, max-age=60", "max-age=0, s-maxage=60"])
      expect(() => tableOf("/v1/things", { access: "user", cache })).toThrow(
        `route GET /v1/things lets shared caches keep its answers ("${cache}") but its access is not public`,
      );
  });

  test("a response cache on a route other than GET", () => {
    expect(() => tableOf("/v1/things", { access: "user", cache: { scope: "private", ttl: "30s" } }, "post")).toThrow(
      "route POST /v1/things declares a response cache, which only GET routes may",
    );
  });

  test("private on an authenticated route and public on a public one are accepted", () => {
    const privateRoute = tableOf("/v1/things", { access: "user", cache: { scope: "private", ttl: "30s" } });
    expect(privateRoute.routes[0]?.policy.cache).toBe("private, no-cache");
    const publicRoute = tableOf("/v1/things", { access: "public", cache: { scope: "public", ttl: "1m" } });
    expect(publicRoute.routes[0]?.policy.cache).toBe("public, max-age=0, s-maxage=60");
  });
});

describe("the whole route table", () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  test("no route that is not public emits public, s-maxage or CDN-Cache-Control", async () => {
    const app = buildApp(runtime, await loadRouteGroups());
    const offending = app.routes.routes
      .filter(({ policy }) => policy.access !== "public")
      .filter(
        ({ policy }) =>
          SHARED_CACHE.test(policy.cache) ||
          Object.entries(policy.headers).some(
            ([name, value]) =>
              /^(cdn|vercel-cdn)-cache-control$|^surrogate-control$/i.test(name) ||
              (/^cache-control$/i.test(name) && SHARED_CACHE.test(value)),
          ),
      )
      .map(({ key }) => key);
    expect(offending).toEqual([]);
    expect(app.routes.routes.filter(({ policy }) => policy.access !== "public").length).toBeGreaterThan(10);
  }, 30_000);
});
