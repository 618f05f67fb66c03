import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import orgs from "../../functions/orgs.ts";
import { BACKEND_HOOK_TIMEOUT_MS, STORE_BACKENDS, type StoreBackend } from "../../test/backends.ts";
import { cachedRoutes, get, insertOrg, read, TTL_MS } from "../../test/cached-routes.ts";
import { countingStore } from "../../test/counting-store.ts";
import { type IdentityTestApp, openIdentityTestApp } from "../../test/identity-client.ts";
import { organizations } from "../db/schema/index.ts";
import { type AppOptions, buildApp, type RampartApp } from "../http/app.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import { deriveRuntime, type Runtime } from "../runtime/runtime.ts";
import { purgeTags } from "./purge-tags.ts";

interface Rig extends IdentityTestApp {
  runs: Map<string, number>;
  gate: { opened: Promise<void> };
  build(runtime: Runtime, options?: AppOptions): RampartApp;
}

async function openRig(store: StoreBackend): Promise<Rig> {
  const rig = await openIdentityTestApp("pglite", store);
  const runs = new Map<string, number>();
  const gate = { opened: Promise.resolve() };
  const build = (runtime: Runtime, options?: AppOptions) =>
    buildApp(runtime, [orgs, cachedRoutes(runs, gate)], options);
  return { ...rig, app: build(rig.runtime), runs, gate, build };
}

describe.each(STORE_BACKENDS)("response cache on the %s store", (backend) => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await openRig(backend);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    rig.clock.reset();
    await rig.runtime.close();
  }, BACKEND_HOOK_TIMEOUT_MS);

  test("a large answer is stored as identity text and sent in each client's encoding, with a weak ETag", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Large");
    const path = `/cached/large/${orgId}`;
    const gzipped = await get(rig.app, path, { "accept-encoding": "gzip" });
    expect([gzipped.headers.get("x-cache"), gzipped.headers.get("content-encoding")]).toEqual(["MISS", "gzip"]);
    const expected = { name: "Large", filler: "x".repeat(4096) };
    expect(JSON.parse(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await gzipped.arrayBuffer()))))).toEqual(
      expected,
    );
    const weak = gzipped.headers.get("etag") as string;
    expect(weak).toMatch(/^W\/"[A-Za-z0-9_-]{22}"$/);
    // Another client, no Accept-Encoding: the kept entry is the identity text, not the first client's gzip.
    const plain = await get(rig.app, path);
    expect([plain.headers.get("x-cache"), plain.headers.get("content-encoding")]).toEqual(["HIT", null]);
    expect(await plain.json()).toEqual(expected);
    expect(plain.headers.get("etag")).toBe(weak.slice(2));
    const zstd = await get(rig.app, path, { "accept-encoding": "zstd, gzip" });
    expect([zstd.headers.get("x-cache"), zstd.headers.get("content-encoding")]).toEqual(["HIT", "zstd"]);
    expect(
      JSON.parse(new TextDecoder().decode(Bun.zstdDecompressSync(new Uint8Array(await zstd.arrayBuffer())))),
    ).toEqual(expected);
    const revalidated = await get(rig.app, path, { "accept-encoding": "gzip", "if-none-match": weak });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get("vary")).toBe("accept-encoding");
  });

  test("a public answer tells CDNs its lifetimes and its tags; browsers revalidate", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Edge");
    for (const expectedCache of ["MISS", "HIT"]) {
      const response = await get(rig.app, `/cached/large/${orgId}`);
      expect(response.headers.get("x-cache")).toBe(expectedCache);
      expect(response.headers.get("cache-control")).toBe("public, max-age=0, s-maxage=30");
      expect(response.headers.get("cdn-cache-control")).toBe(
        "max-age=30, stale-while-revalidate=60, stale-if-error=600",
      );
      const path = `path:/cached/large/${orgId}`;
      expect(response.headers.get("vercel-cache-tag")).toBe(`org:${orgId},orgs,${path}`);
      expect(response.headers.get("surrogate-key")).toBe(`org:${orgId} orgs ${path}`);
    }
  });

  test("100 concurrent requests for a cold key run the handler once; all get its answer", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Cold");
    rig.runs.set("public", 0);
    let open = () => {};
    rig.gate.opened = new Promise((resolve) => (open = resolve));
    const answers = Array.from({ length: 100 }, () => get(rig.app, `/cached/public/${orgId}`));
    await Bun.sleep(50);
    open();
    const read100 = await Promise.all((await Promise.all(answers)).map(read));
    rig.gate.opened = Promise.resolve();
    expect(rig.runs.get("public")).toBe(1);
    expect(read100.every((answer) => answer.status === 200 && (answer.body as { name: string }).name === "Cold")).toBe(
      true,
    );
  }, 30_000);

  test("a fresh entry is a HIT with a strong ETag; If-None-Match answers 304 with its headers", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Tagged");
    const first = await get(rig.app, `/cached/public/${orgId}`);
    const etag = first.headers.get("etag") as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(first.headers.get("vary")).toBe("accept-language, accept-encoding");
    expect((await read(first)).cache).toBe("MISS");
    const hit = await get(rig.app, `/cached/public/${orgId}`);
    expect(hit.headers.get("etag")).toBe(etag);
    expect(await read(hit)).toEqual({ status: 200, cache: "HIT", body: { name: "Tagged" } });
    for (const ifNoneMatch of [etag, `"other", W/${etag}`, "*"]) {
      const revalidated = await get(rig.app, `/cached/public/${orgId}`, { "if-none-match": ifNoneMatch });
      expect(revalidated.status).toBe(304);
      expect(await revalidated.text()).toBe("");
      expect(revalidated.headers.get("etag")).toBe(etag);
      expect(revalidated.headers.get("vary")).toBe("accept-language, accept-encoding");
      expect(revalidated.headers.get("cache-control")).toBe("public, max-age=0, s-maxage=30");
    }
    const other = await get(rig.app, `/cached/public/${orgId}`, { "if-none-match": '"other"' });
    expect(other.status).toBe(200);
    // After a change and its purge, the old ETag no longer matches.
    await rig.runtime.db.primary.update(organizations).set({ name: "Renamed" }).where(eq(organizations.id, orgId));
    await purgeTags(rig.runtime, [`org:${orgId}`]);
    const changed = await get(rig.app, `/cached/public/${orgId}`, { "if-none-match": etag });
    expect(changed.headers.get("etag")).not.toBe(etag);
    expect(await read(changed)).toEqual({ status: 200, cache: "MISS", body: { name: "Renamed" } });
  }, 30_000);

  test("a vary header selects its own entry", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Varied");
    rig.runs.set("public", 0);
    await read(await get(rig.app, `/cached/public/${orgId}`, { "accept-language": "fr" }));
    expect((await read(await get(rig.app, `/cached/public/${orgId}`, { "accept-language": "de" }))).cache).toBe("MISS");
    expect((await read(await get(rig.app, `/cached/public/${orgId}`, { "accept-language": "fr" }))).cache).toBe("HIT");
    expect(rig.runs.get("public")).toBe(2);
  }, 30_000);

  test("private entries are kept per organization; a purge of one org leaves another's cached", async () => {
    const { client } = rig;
    const [alice, bob, carol] = [await client.createUser(), await client.createUser(), await client.createUser()];
    const acme = await client.createOrg(alice, "Acme");
    await client.addMember(alice, acme, bob, "member");
    const globex = await client.createOrg(carol, "Globex");
    rig.runs.set("private", 0);
    const name = (user: { token: string }, orgId: string) =>
      get(rig.app, `/cached/orgs/${orgId}/name`, { authorization: `Bearer ${user.token}` }).then(read);
    expect(await name(alice, acme)).toEqual({ status: 200, cache: "MISS", body: { name: "Acme" } });
    expect(await name(bob, acme)).toEqual({ status: 200, cache: "HIT", body: { name: "Acme" } });
    expect(await name(carol, globex)).toEqual({ status: 200, cache: "MISS", body: { name: "Globex" } });
    // Another org's member is refused by the guards before any cached answer is looked up.
    expect((await name(carol, acme)).status).toBe(404);
    await rig.runtime.db.primary.update(organizations).set({ name: "Acme 2" }).where(eq(organizations.id, acme));
    await purgeTags(rig.runtime, [`org:${acme}`]);
    expect(await name(bob, acme)).toEqual({ status: 200, cache: "MISS", body: { name: "Acme 2" } });
    expect(await name(carol, globex)).toEqual({ status: 200, cache: "HIT", body: { name: "Globex" } });
    expect(rig.runs.get("private")).toBe(3);
  }, 30_000);

  test("within stale-while-revalidate the entry is served STALE and refreshed once in the background", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Before");
    await read(await get(rig.app, `/cached/public/${orgId}`));
    await rig.runtime.db.primary.update(organizations).set({ name: "After" }).where(eq(organizations.id, orgId));
    rig.runs.set("public", 0);
    rig.clock.advance(TTL_MS + 5_000);
    try {
      const stale = await Promise.all(Array.from({ length: 10 }, () => get(rig.app, `/cached/public/${orgId}`)));
      for (const answer of await Promise.all(stale.map(read)))
        expect(answer).toEqual({ status: 200, cache: "STALE", body: { name: "Before" } });
      let next = await read(await get(rig.app, `/cached/public/${orgId}`));
      // The refresh runs in the background: wait for its answer to land (bounded), not for the clock.
      for (let i = 0; i < 200 && next.cache !== "HIT"; i++) {
        await Bun.sleep(10);
        next = await read(await get(rig.app, `/cached/public/${orgId}`));
      }
      expect(next).toEqual({ status: 200, cache: "HIT", body: { name: "After" } });
      expect(rig.runs.get("public")).toBe(1);
    } finally {
      rig.clock.reset();
    }
  }, 30_000);

  test("a hit makes at most one store round trip, and none within the in-process layer's second", async () => {
    const counting = countingStore(rig.runtime.store);
    const app = rig.build(deriveRuntime(rig.runtime, { store: counting.store }));
    const orgId = await insertOrg(rig.runtime.db, "Counted");
    await read(await get(app, `/cached/public/${orgId}`));
    rig.clock.advance(1_000);
    try {
      counting.calls.length = 0;
      expect((await read(await get(app, `/cached/public/${orgId}`))).cache).toBe("HIT");
      expect(counting.calls.filter((call) => call === "mget" || call === "get" || call === "set")).toEqual(["mget"]);
      counting.calls.length = 0;
      expect((await read(await get(app, `/cached/public/${orgId}`))).cache).toBe("HIT");
      expect(counting.calls.filter((call) => call === "mget" || call === "get")).toEqual([]);
    } finally {
      rig.clock.reset();
    }
  }, 30_000);

  test("past the entry cap a route's answers are sent but not stored, until the window passes", async () => {
    const options = { responseCache: { maxStoredEntries: 2 } };
    const [filling, reading] = [rig.build(rig.runtime, options), rig.build(rig.runtime, options)];
    const orgIds = [await insertOrg(rig.runtime.db, "One"), await insertOrg(rig.runtime.db, "Two")];
    orgIds.push(await insertOrg(rig.runtime.db, "Three"));
    // A window of its own: counts left in a shared Redis by other runs fall in other windows.
    rig.clock.advance(Math.floor(Math.random() * 1e6) * 86_400_000);
    try {
      for (const orgId of orgIds) expect((await read(await get(filling, `/cached/large/${orgId}`))).cache).toBe("MISS");
      const seen = [];
      for (const orgId of orgIds) seen.push((await read(await get(reading, `/cached/large/${orgId}`))).cache);
      expect(seen).toEqual(["HIT", "HIT", "MISS"]);
      // The next window (an entry of this route lives 10.5 minutes, stale-if-error included).
      rig.clock.advance(25 * 60_000);
      const later = await insertOrg(rig.runtime.db, "Later");
      await read(await get(filling, `/cached/large/${later}`));
      expect((await read(await get(reading, `/cached/large/${later}`))).cache).toBe("HIT");
    } finally {
      rig.clock.reset();
    }
  }, 30_000);

  test("an answer with Set-Cookie is never stored, and says BYPASS", async () => {
    rig.runs.set("cookie", 0);
    for (let i = 0; i < 2; i++) {
      const answer = await get(rig.app, "/cached/cookie");
      expect(answer.headers.get("x-cache")).toBe("BYPASS");
      expect(answer.headers.get("etag")).toBeNull();
    }
    expect(rig.runs.get("cookie")).toBe(2);
  }, 30_000);

  test("hits, misses and 304s are counted per route", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Metered");
    const values = () =>
      Object.fromEntries(
        ["hit", "miss", "not_modified"].map((outcome) => [
          outcome,
          metricsRegistry().series("cache", { route: "/cached/public/:orgId", outcome }).values[0],
        ]),
      );
    metricsRegistry().seal(Date.now());
    const first = await get(rig.app, `/cached/public/${orgId}`);
    const etag = first.headers.get("etag") as string;
    await get(rig.app, `/cached/public/${orgId}`);
    await get(rig.app, `/cached/public/${orgId}`, { "if-none-match": etag });
    expect(values()).toEqual({ hit: 1, miss: 1, not_modified: 1 });
  }, 30_000);
});
