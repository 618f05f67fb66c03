import { afterAll, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { loadConfig } from "../config/config.ts";
import { requestContextOf } from "../core/request-context.ts";
import { policyPlugin } from "../http/policy-plugin.ts";
import { defineRouteGroup } from "../http/route-group.ts";
import { createServerlessApp } from "./serverless-app.ts";

const whoIsCalling = defineRouteGroup("who", () =>
  new Elysia().use(policyPlugin).get("/who", ({ request }) => ({ ip: requestContextOf(request).clientIp }), {
    policy: { access: "public", rateLimits: [] },
  }),
);

const app = createServerlessApp(loadConfig({ NODE_ENV: "test" }), [whoIsCalling]);
afterAll(async () => (await app.runtime()).db.close());

// The first request opens the runtime (PGlite), which takes seconds on a cold machine.
test("the peer address a platform reports (Deno Deploy's remoteAddr) is the " +
  "client address under TRUST_PROXY=none", async () => {
  const response = await app.fetch(
    new Request("https://rampart.example/who", { headers: { "x-forwarded-for": "198.51.100.1" } }),
    "203.0.113.9",
  );
  expect(await response.json()).toEqual({ ip: "203.0.113.9" });
}, 30_000);

test("without one, callers share the unknown address rather than whatever a header claims", async () => {
  const response = await app.fetch(
    new Request("https://rampart.example/who", { headers: { "x-forwarded-for": "198.51.100.1" } }),
  );
  expect(await response.json()).toEqual({ ip: "unknown" });
});
