import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import { policyPlugin } from "../http/policy-plugin.ts";
import { defineRouteGroup } from "../http/route-group.ts";

const SUNSET = Date.parse("2027-07-01T00:00:00Z");
const DEPRECATED = { since: "2027-01-01", sunset: "2027-07-01", link: "https://docs.example.com/migrate-v2" };

const routes = defineRouteGroup("versions", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/v1/widgets", () => ({ version: 1 }), { public: { rateLimits: [], deprecated: DEPRECATED } })
    .get("/v1/me-too", () => ({}), { user: { rateLimits: [], deprecated: DEPRECATED } })
    .get("/v2/widgets", () => ({ version: 2 }), { public: { rateLimits: [] } }),
);

describe("deprecated routes", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  let now = Date.parse("2027-03-01T12:00:00Z");
  const get = (path: string) => app.fetch(new Request(`http://localhost${path}`));

  beforeAll(async () => {
    runtime = await openTestRuntime({ now: () => now });
    app = buildApp(runtime, [routes]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("answer with Deprecation (RFC 9745), Sunset (RFC 8594) and Link headers in their exact formats", async () => {
    const response = await get("/v1/widgets");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ version: 1 });
    expect(response.headers.get("deprecation")).toBe("@1798761600");
    expect(response.headers.get("sunset")).toBe("Thu, 01 Jul 2027 00:00:00 GMT");
    expect(response.headers.get("link")).toBe(
      '<https://docs.example.com/migrate-v2>; rel="deprecation"; type="text/html", ' +
        '<https://docs.example.com/migrate-v2>; rel="sunset"; type="text/html"',
    );
  });

  test("error answers carry them too, and a route without `deprecated` carries none", async () => {
    const refused = await get("/v1/me-too");
    expect(refused.status).toBe(401);
    expect(refused.headers.get("sunset")).toBe("Thu, 01 Jul 2027 00:00:00 GMT");
    const current = await get("/v2/widgets");
    expect(current.status).toBe(200);
    for (const name of ["deprecation", "sunset", "link"]) expect(current.headers.get(name)).toBeNull();
  });

  test("from the sunset on, the route answers 410 GONE in the envelope, to everyone", async () => {
    now = SUNSET - 1;
    expect((await get("/v1/widgets")).status).toBe(200);
    now = SUNSET;
    const gone = await get("/v1/widgets");
    expect(gone.status).toBe(410);
    expect(await gone.json()).toMatchObject({ error: { code: "GONE" } });
    expect(gone.headers.get("sunset")).toBe("Thu, 01 Jul 2027 00:00:00 GMT");
    // Before access: a caller without credentials learns the same.
    expect((await get("/v1/me-too")).status).toBe(410);
    expect((await get("/v2/widgets")).status).toBe(200);
  });

  test("dates that do not parse, or a sunset before the deprecation, fail when the app is built", () => {
    const declare = (deprecated: { since: string; sunset: string }) =>
      defineRouteGroup("bad", () =>
        new Elysia().use(policyPlugin).get("/v1/old", () => ({}), { public: { deprecated } }),
      );
    expect(() => buildApp(runtime, [declare({ since: "soon", sunset: "2027-07-01" })])).toThrow(
      "route GET /v1/old: deprecated.since and deprecated.sunset must be ISO dates",
    );
    expect(() => buildApp(runtime, [declare({ since: "2027-07-01", sunset: "2027-01-01" })])).toThrow(
      "route GET /v1/old: its sunset comes before its deprecation",
    );
  });
});
