import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import docs, { DOCS_ASSETS_PATH, DOCS_CSP } from "./docs.ts";
import health from "./health.ts";
import openapi from "./openapi.ts";

const DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'";
// Compressing 4.7 MB takes under a second idle; a loaded machine gets far more.
const ASSET_TEST_TIMEOUT_MS = 60_000;

describe("the docs page over HTTP", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  const get = (path: string, headers: Record<string, string> = {}) =>
    app.fetch(new Request(`http://localhost${path}`, { headers }));

  beforeAll(async () => {
    runtime = await openTestRuntime();
    app = buildApp(runtime, [docs, health, openapi]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("the HTML loads scripts from this origin only and nothing from https://", async () => {
    const response = await get("/docs");
    const html = await response.text();
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const sources = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"/g)].map(([, url]) => url);
    expect(sources).toEqual(["data:,", `${DOCS_ASSETS_PATH}/start.js`, `${DOCS_ASSETS_PATH}/standalone.js`]);
    expect(html).not.toContain("https://");
    expect(html).not.toContain("http://");
  });

  test(
    "the docs routes carry the docs CSP, which admits no other origin",
    async () => {
      for (const path of ["/docs", `${DOCS_ASSETS_PATH}/start.js`, `${DOCS_ASSETS_PATH}/standalone.js`])
        expect((await get(path)).headers.get("content-security-policy")).toBe(DOCS_CSP);
      expect(DOCS_CSP).toContain("script-src 'self';");
      expect(DOCS_CSP).toContain("connect-src 'self';");
      expect(DOCS_CSP).not.toMatch(/https?:|\*|'unsafe-eval'/);
    },
    ASSET_TEST_TIMEOUT_MS,
  );

  test("every other route keeps the default CSP", async () => {
    for (const path of ["/health/live", "/openapi.json", "/no-such-route"])
      expect((await get(path)).headers.get("content-security-policy")).toBe(DEFAULT_CSP);
  });

  test(
    "the bundle is served br or gzip as the client accepts, immutable, and identical once decoded",
    async () => {
      const identity = await get(`${DOCS_ASSETS_PATH}/standalone.js`);
      const raw = new Uint8Array(await identity.arrayBuffer());
      expect(identity.headers.get("content-encoding")).toBeNull();
      expect(identity.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(raw.byteLength).toBeGreaterThan(4_000_000);

      const br = await get(`${DOCS_ASSETS_PATH}/standalone.js`, { "accept-encoding": "gzip, deflate, br" });
      expect(br.headers.get("content-encoding")).toBe("br");
      expect(br.headers.get("vary")).toBe("accept-encoding");
      expect(br.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      const brBytes = new Uint8Array(await br.arrayBuffer());
      expect(brBytes.byteLength).toBeLessThan(raw.byteLength / 3);
      expect(new Uint8Array(brotliDecompressSync(brBytes))).toEqual(raw);

      const gzip = await get(`${DOCS_ASSETS_PATH}/standalone.js`, { "accept-encoding": "br;q=0, gzip" });
      expect(gzip.headers.get("content-encoding")).toBe("gzip");
      expect(new Uint8Array(gunzipSync(new Uint8Array(await gzip.arrayBuffer())))).toEqual(raw);
    },
    ASSET_TEST_TIMEOUT_MS,
  );

  test("the page itself is cached briefly, so a new bundle version reaches readers", async () => {
    expect((await get("/docs")).headers.get("cache-control")).toBe("public, max-age=300");
  });
});
