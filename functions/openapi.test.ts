import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import committed from "../openapi.json" with { type: "json" };
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import openapi from "./openapi.ts";

describe("GET /openapi.json", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime();
    app = buildApp(runtime, [openapi]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("serves the committed document to anyone, cacheable for five minutes", async () => {
    const response = await app.fetch(new Request("http://localhost/openapi.json"));
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    expect(response.headers.get("content-type")).toStartWith("application/json");
    expect(await response.json()).toEqual(committed);
  });
});
