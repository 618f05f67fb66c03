import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, STORE_BACKENDS } from "../../test/backends.ts";
import { cachedRoutes, get, insertOrg, read } from "../../test/cached-routes.ts";
import { countingStore } from "../../test/counting-store.ts";
import { type IdentityTestApp, openIdentityTestApp } from "../../test/identity-client.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import { deriveRuntime } from "../runtime/runtime.ts";
import { purgeTags } from "./purge-tags.ts";

// The route's adaptive TTL is { min: "500ms", max: "5m" } (test/cached-routes.ts).
const MAX_MS = 300_000;

describe.each(STORE_BACKENDS)("adaptive TTL on the %s store", (backend) => {
  let rig: IdentityTestApp;
  let runs: Map<string, number>;
  const build = (runtime: IdentityTestApp["runtime"]): RampartApp =>
    buildApp(runtime, [cachedRoutes(runs, { opened: Promise.resolve() })]);
  beforeAll(async () => {
    rig = await openIdentityTestApp("pglite", backend);
    runs = new Map();
    rig.app = build(rig.runtime);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterEach(() => rig.clock.reset());
  afterAll(async () => {
    await rig.runtime.close();
  }, BACKEND_HOOK_TIMEOUT_MS);

  async function purgeEvery(orgId: string, intervalMs: number, purges: number): Promise<void> {
    for (let i = 0; i < purges; i++) {
      if (i > 0) rig.clock.advance(intervalMs);
      await purgeTags(rig.runtime, [`org:${orgId}`]);
    }
  }

  /** Reads the org's adaptive route, then again `afterMs` later: the second read's X-Cache and handler runs. */
  async function cachedFor(orgId: string, afterMs: number): Promise<{ cache: string | null; runs: number }> {
    runs.set("adaptive", 0);
    expect((await read(await get(rig.app, `/cached/adaptive/${orgId}`))).cache).toBe("MISS");
    rig.clock.advance(afterMs);
    const again = await read(await get(rig.app, `/cached/adaptive/${orgId}`));
    return { cache: again.cache, runs: runs.get("adaptive") ?? 0 };
  }

  test("a tag purged every 10 s gives its entries a 1 s TTL", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Busy");
    await purgeEvery(orgId, 10_000, 5);
    expect(await cachedFor(orgId, 900)).toEqual({ cache: "HIT", runs: 1 });
    rig.clock.advance(200);
    expect((await read(await get(rig.app, `/cached/adaptive/${orgId}`))).cache).toBe("MISS");
    expect(runs.get("adaptive")).toBe(2);
  }, 30_000);

  test("a CDN is told the entry's adaptive TTL, not the route's maximum", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Edge");
    await purgeEvery(orgId, 60_000, 3);
    const answer = await get(rig.app, `/cached/adaptive/${orgId}`);
    // A one-minute interval: a tenth of it.
    expect(answer.headers.get("cache-control")).toBe("public, max-age=0, s-maxage=6");
    expect(answer.headers.get("cdn-cache-control")).toBe("max-age=6");
    rig.clock.advance(1_000);
    expect((await get(rig.app, `/cached/adaptive/${orgId}`)).headers.get("cdn-cache-control")).toBe("max-age=6");
  }, 30_000);

  test("a tag purged hourly gives its entries the route's maximum", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Hourly");
    await purgeEvery(orgId, 3_600_000, 3);
    expect(await cachedFor(orgId, MAX_MS - 1_000)).toEqual({ cache: "HIT", runs: 1 });
    rig.clock.advance(2_000);
    expect((await read(await get(rig.app, `/cached/adaptive/${orgId}`))).cache).toBe("MISS");
  }, 30_000);

  test("a tag never purged gives its entries the route's maximum", async () => {
    const orgId = await insertOrg(rig.runtime.db, "Quiet");
    expect(await cachedFor(orgId, MAX_MS - 1_000)).toEqual({ cache: "HIT", runs: 1 });
    rig.clock.advance(2_000);
    expect((await read(await get(rig.app, `/cached/adaptive/${orgId}`))).cache).toBe("MISS");
  }, 30_000);

  test("a hit on an adaptive route still makes one store round trip", async () => {
    const { store: counted, calls } = countingStore(rig.runtime.store);
    const app = build(deriveRuntime(rig.runtime, { store: counted }));
    const orgId = await insertOrg(rig.runtime.db, "Counted");
    await purgeEvery(orgId, 60_000, 3);
    await read(await get(app, `/cached/adaptive/${orgId}`));
    // Past the in-process layer's second, within the 6 s TTL a one-minute interval gives.
    rig.clock.advance(2_000);
    calls.length = 0;
    expect((await read(await get(app, `/cached/adaptive/${orgId}`))).cache).toBe("HIT");
    expect(calls).toEqual(["mget"]);
  }, 30_000);
});
