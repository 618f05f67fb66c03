import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from "node:zlib";
import { Elysia } from "elysia";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import type { RoutePolicy } from "../core/route-policy.ts";
import { deriveRuntime } from "../runtime/runtime.ts";
import { buildApp, type RampartApp } from "./app.ts";
import { type ContentEncoding, compressBody, mergeVary, negotiateEncoding, preferredEncoding } from "./compression.ts";
import { policyPlugin } from "./policy-plugin.ts";
import { defineRouteGroup } from "./route-group.ts";
import { createStaticAsset } from "./static-asset.ts";

const DECODERS: Record<ContentEncoding, (bytes: Uint8Array) => Uint8Array> = {
  zstd: zstdDecompressSync,
  br: brotliDecompressSync,
  gzip: gunzipSync,
};

describe("negotiateEncoding", () => {
  test("prefers zstd, then br, then gzip when the client weighs them the same", () => {
    expect(preferredEncoding("gzip, deflate, br, zstd")).toBe("zstd");
    expect(preferredEncoding("gzip, deflate, br")).toBe("br");
    expect(preferredEncoding("gzip")).toBe("gzip");
  });

  test("a higher q-value wins over server preference; q=0 refuses a coding", () => {
    expect(preferredEncoding("zstd;q=0.5, gzip;q=0.9")).toBe("gzip");
    expect(preferredEncoding("zstd;q=0, br;q=0, gzip")).toBe("gzip");
    expect(preferredEncoding("zstd;q=0, br;q=0, gzip;q=0")).toBeUndefined();
    expect(preferredEncoding("deflate, compress")).toBeUndefined();
    expect(preferredEncoding(null)).toBeUndefined();
  });

  test("`*` stands for every coding not listed, and a listed one keeps its own weight", () => {
    expect(preferredEncoding("*")).toBe("zstd");
    expect(preferredEncoding("zstd;q=0, *")).toBe("br");
    expect(preferredEncoding("*;q=0.1, gzip")).toBe("gzip");
    expect(preferredEncoding("*;q=0")).toBeUndefined();
  });

  test("identity is refused only by identity;q=0, or by *;q=0 that does not list identity", () => {
    expect(negotiateEncoding("gzip, identity;q=0")).toEqual({ encoding: "gzip", identity: false });
    expect(negotiateEncoding("gzip, *;q=0")).toEqual({ encoding: "gzip", identity: false });
    expect(negotiateEncoding("gzip, identity, *;q=0").identity).toBe(true);
    expect(negotiateEncoding("gzip").identity).toBe(true);
  });

  test("static assets are offered in br or gzip only: one negotiation for both", () => {
    expect(preferredEncoding("zstd, br, gzip", ["br", "gzip"])).toBe("br");
    expect(preferredEncoding("zstd, gzip", ["br", "gzip"])).toBe("gzip");
    expect(preferredEncoding("zstd", ["br", "gzip"])).toBeUndefined();
  });
});

describe("compressBody", () => {
  test("each encoding round-trips and shrinks a JSON body", () => {
    const bytes = new TextEncoder().encode(JSON.stringify(Array.from({ length: 500 }, (_, i) => ({ id: i }))));
    for (const encoding of ["zstd", "br", "gzip"] as const) {
      const compressed = compressBody(bytes, encoding);
      expect(compressed.byteLength).toBeLessThan(bytes.byteLength / 4);
      expect(new Uint8Array(DECODERS[encoding](compressed))).toEqual(bytes);
    }
  });
});

describe("mergeVary", () => {
  test("adds Accept-Encoding once, keeping what the response already varies on", () => {
    expect(mergeVary(null, "accept-encoding")).toBe("accept-encoding");
    expect(mergeVary("Origin", "accept-encoding")).toBe("Origin, accept-encoding");
    expect(mergeVary("Origin, Accept-Encoding", "accept-encoding")).toBe("Origin, Accept-Encoding");
    expect(mergeVary("*", "accept-encoding")).toBe("*");
  });
});

const open: RoutePolicy = { access: "public", rateLimits: [] };
const LARGE = { items: Array.from({ length: 200 }, (_, i) => ({ id: `item_${i}`, name: `Item number ${i}` })) };
const assetDir = mkdtempSync(join(tmpdir(), "compression-"));
const assetPath = join(assetDir, "bundle.js");
writeFileSync(assetPath, `console.log(${JSON.stringify("x".repeat(4000))});\n`.repeat(4));
const bundle = createStaticAsset({ path: assetPath, contentType: "text/javascript; charset=utf-8" });

const routes = defineRouteGroup("compressed", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/large", () => LARGE, { policy: open })
    .get("/small", () => ({ id: "w1" }), { policy: open })
    .get(
      "/tagged",
      ({ set }) => {
        set.headers.etag = '"v1"';
        return LARGE;
      },
      { policy: open },
    )
    .get("/bundle.js", ({ request }) => bundle(request), { policy: open }),
);

let runtime: TestRuntime;
let app: RampartApp;
let appWithoutCompression: RampartApp;

beforeAll(async () => {
  runtime = await openTestRuntime();
  app = buildApp(runtime, [routes]);
  appWithoutCompression = buildApp(deriveRuntime(runtime, { config: { ...runtime.config, compression: "off" } }), [
    routes,
  ]);
}, BACKEND_HOOK_TIMEOUT_MS);
afterAll(() => runtime.close());

const get = (path: string, acceptEncoding?: string, method = "GET", target = app) =>
  target.fetch(
    new Request(`http://localhost${path}`, {
      method,
      headers: acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding },
    }),
  );

async function decoded(response: Response): Promise<unknown> {
  const bytes = new Uint8Array(await response.arrayBuffer());
  const encoding = response.headers.get("content-encoding") as ContentEncoding | null;
  return JSON.parse(new TextDecoder().decode(encoding === null ? bytes : DECODERS[encoding](bytes)));
}

describe("compression in the pipeline", () => {
  test("a large JSON answer comes in the client's preferred encoding, with Vary: Accept-Encoding", async () => {
    for (const [accept, encoding] of [
      ["gzip, deflate, br, zstd", "zstd"],
      ["gzip, br", "br"],
      ["gzip", "gzip"],
    ] as const) {
      const response = await get("/large", accept);
      expect(response.headers.get("content-encoding")).toBe(encoding);
      expect(response.headers.get("vary")?.toLowerCase()).toContain("accept-encoding");
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(await decoded(response)).toEqual(LARGE);
    }
  });

  test("Vary keeps the headers the route already varies on", async () => {
    const vary = (await get("/small")).headers.get("vary");
    const merged = (await get("/large", "gzip")).headers.get("vary");
    expect(merged).toBe(mergeVary(vary, "accept-encoding"));
  });

  test("a small answer, a client that accepts no encoding, and a HEAD are sent as they are", async () => {
    const small = await get("/small", "zstd, br, gzip");
    expect(small.headers.get("content-encoding")).toBeNull();
    expect(await small.json()).toEqual({ id: "w1" });
    const identity = await get("/large", "deflate");
    expect(identity.headers.get("content-encoding")).toBeNull();
    expect(identity.headers.get("vary")?.toLowerCase()).toContain("accept-encoding");
    expect(await identity.json()).toEqual(LARGE);
    expect((await get("/large")).headers.get("content-encoding")).toBeNull();
    const head = await get("/large", "gzip", "HEAD");
    expect(head.status).toBe(200);
    expect(head.headers.get("content-encoding")).toBeNull();
  });

  test("a small answer is compressed when the client refuses identity", async () => {
    const response = await get("/small", "gzip, identity;q=0");
    expect(response.headers.get("content-encoding")).toBe("gzip");
    expect(await decoded(response)).toEqual({ id: "w1" });
  });

  test("a compressed answer carries its strong ETag weak: the tag names the identity bytes", async () => {
    expect((await get("/tagged", "gzip")).headers.get("etag")).toBe('W/"v1"');
    expect((await get("/tagged")).headers.get("etag")).toBe('"v1"');
  });

  test("COMPRESSION=off sends every answer as it is", async () => {
    const response = await get("/large", "zstd, br, gzip", "GET", appWithoutCompression);
    expect(response.headers.get("content-encoding")).toBeNull();
    expect(await response.json()).toEqual(LARGE);
  });

  test("a static asset keeps its own encoding and is never compressed twice", async () => {
    const response = await get("/bundle.js", "zstd, br, gzip");
    expect(response.headers.get("content-encoding")).toBe("br");
    const text = new TextDecoder().decode(brotliDecompressSync(new Uint8Array(await response.arrayBuffer())));
    expect(text).toBe(await Bun.file(assetPath).text());
  });
});
