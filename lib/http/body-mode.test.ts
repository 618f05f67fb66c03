import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { buildApp, type RampartApp } from "./app.ts";
import { policyPlugin } from "./policy-plugin.ts";
import { defineRouteGroup } from "./route-group.ts";

const routes = defineRouteGroup("body-modes", () =>
  new Elysia()
    .use(policyPlugin)
    // A webhook verifies a signature over the bytes as sent, so they must reach it unparsed.
    .post(
      "/raw",
      ({ body }) => ({ isBytes: body instanceof Uint8Array, text: new TextDecoder().decode(body as Uint8Array) }),
      {
        policy: { access: "public", body: "raw", bodyLimitBytes: 64 },
      },
    )
    .post("/none", () => ({ ok: true }), { policy: { access: "public", body: "none", bodyLimitBytes: 1024 } }),
);

describe("body modes", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  const post = (path: string, body?: string) =>
    app.fetch(
      new Request(`http://localhost${path}`, {
        method: "POST",
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body,
      }),
    );

  beforeAll(async () => {
    runtime = await openTestRuntime();
    app = buildApp(runtime, [routes]);
  }, 60_000);
  afterAll(() => runtime.close());

  test("a raw route hands the handler the bytes as sent, even ones that are not valid JSON", async () => {
    const sent = '{"b": 1,  "a": 2, "a": 3';
    const response = await post("/raw", sent);
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 200,
      body: { isBytes: true, text: sent },
    });
  });

  test("a raw route still enforces its body limit", async () => {
    expect((await post("/raw", "x".repeat(65))).status).toBe(413);
  });

  test("a route that takes no body refuses one, whatever bodyLimitBytes says, and answers without one", async () => {
    expect((await post("/none", "{}")).status).toBe(413);
    expect((await post("/none")).status).toBe(200);
  });
});
