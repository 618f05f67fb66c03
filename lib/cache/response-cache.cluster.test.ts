import { afterAll, beforeAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  openDatabaseBehindRelay,
  openTestRuntime,
  type RelayedDatabase,
  type TestRuntime,
} from "../../test/backends.ts";
import { cachedRoutes, get, insertOrg, read, TTL_MS } from "../../test/cached-routes.ts";
import { describeWithServers } from "../../test/describe-with-servers.ts";
import { createTestClock } from "../../test/test-clock.ts";
import { organizations } from "../db/schema/index.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import { purgeTags } from "./purge-tags.ts";

describeWithServers(["postgres", "redis"], "two instances over one Redis, the database behind a relay", () => {
  const clock = createTestClock();
  const runs = new Map<string, number>();
  const gate = { opened: Promise.resolve() };
  let relayed: RelayedDatabase;
  let first: TestRuntime;
  let second: TestRuntime;
  let a: RampartApp;
  let b: RampartApp;
  beforeAll(async () => {
    relayed = await openDatabaseBehindRelay("postgres");
    first = await openTestRuntime({ db: relayed.db, store: "upstash", now: clock.now });
    second = await openTestRuntime({ db: relayed.db, store: "upstash", now: clock.now });
    // A loser waits for the winner's answer as long as a loaded machine may take to compute it.
    const options = { responseCache: { waitForLockMs: 10_000 } };
    a = buildApp(first, [cachedRoutes(runs, gate)], options);
    b = buildApp(second, [cachedRoutes(runs, gate)], options);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    clock.reset();
    await first.close();
  }, BACKEND_HOOK_TIMEOUT_MS);

  test("100 concurrent requests for a cold key, split over both, run the handler once", async () => {
    const orgId = await insertOrg(relayed.db, "Shared");
    runs.set("public", 0);
    let open = () => {};
    gate.opened = new Promise((resolve) => (open = resolve));
    const pending = Array.from({ length: 100 }, (_, i) => get(i % 2 === 0 ? a : b, `/cached/public/${orgId}`));
    await Bun.sleep(100);
    open();
    const answers = await Promise.all((await Promise.all(pending)).map(read));
    gate.opened = Promise.resolve();
    expect(runs.get("public")).toBe(1);
    expect(answers.filter((answer) => answer.status === 200 && answer.cache === "MISS").length).toBe(100);
    expect(new Set(answers.map((answer) => JSON.stringify(answer.body)))).toEqual(new Set(['{"name":"Shared"}']));
  }, 60_000);

  test("a purge makes both instances serve fresh data within a second; another org's entry stays cached", async () => {
    const [changed, untouched] = [await insertOrg(relayed.db, "Old"), await insertOrg(relayed.db, "Other")];
    for (const app of [a, b])
      for (const orgId of [changed, untouched]) await read(await get(app, `/cached/public/${orgId}`));
    await relayed.db.primary.update(organizations).set({ name: "New" }).where(eq(organizations.id, changed));
    await purgeTags(first, [`org:${changed}`]);
    try {
      expect((await read(await get(a, `/cached/public/${changed}`))).body).toEqual({ name: "New" });
      // The other instance may answer from its in-process layer for up to a second.
      clock.advance(1_000);
      expect((await read(await get(b, `/cached/public/${changed}`))).body).toEqual({ name: "New" });
      for (const app of [a, b])
        expect(await read(await get(app, `/cached/public/${untouched}`))).toEqual({
          status: 200,
          cache: "HIT",
          body: { name: "Other" },
        });
    } finally {
      clock.reset();
    }
  }, 60_000);

  test("with the database down, an entry within stale-if-error is served STALE, then 503 past it", async () => {
    const orgId = await insertOrg(relayed.db, "Kept");
    await read(await get(a, `/cached/public/${orgId}`));
    // Past stale-while-revalidate (1 min), within stale-if-error (10 min): the handler runs, and fails.
    clock.advance(TTL_MS + 120_000);
    relayed.relay.kill();
    try {
      // Enough failures to open the database's breaker: its refusals are served stale as well.
      for (let i = 0; i < 5; i++)
        expect(await read(await get(a, `/cached/public/${orgId}`))).toEqual({
          status: 200,
          cache: "STALE",
          body: { name: "Kept" },
        });
      clock.advance(10 * 60_000);
      const expired = await get(a, `/cached/public/${orgId}`);
      expect(expired.status).toBe(503);
      expect(expired.headers.get("cache-control")).toBe("no-store");
    } finally {
      relayed.relay.revive();
      clock.reset();
    }
  }, 60_000);
});
