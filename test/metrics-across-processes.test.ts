/**
 * Three server processes sharing one Redis and one PostgreSQL, a known number of requests to each: once they
 * shut down (each flushes as it drains) and the minutes are rolled up, the totals equal the requests sent.
 * Runs when TEST_POSTGRES_URL and TEST_REDIS_URL are set.
 */
import { expect, test } from "bun:test";
import { readRouteMinutes } from "../lib/metrics-rollup/read-route-minutes.ts";
import { rollUpMetrics } from "../lib/metrics-rollup/rollup-minutes.ts";
import {
  createScratchDatabase,
  GATEWAY_TOKEN,
  openTestDatabase,
  openTestRuntime,
  openTestStore,
  type TestRuntime,
  upstashGatewayUrl,
} from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { type SpawnedServers, spawnServers } from "./spawned-servers.ts";

const TEST_TIMEOUT_MS = 90_000;
const SERVERS = 3;

describeWithServers(["postgres", "redis"], "metrics across three server processes", (hooks) => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let runtime: TestRuntime;
  let spawned: SpawnedServers;
  let stopped = false;

  hooks.beforeAll(async () => {
    scratch = await createScratchDatabase();
    // Migrated once here, so the processes never race to migrate.
    runtime = await openTestRuntime({ db: await openTestDatabase("postgres", undefined, scratch.url) });
    spawned = await spawnServers(
      "test/fixtures/metrics-server.ts",
      SERVERS,
      {
        NODE_ENV: "test",
        LOG_LEVEL: "error",
        DATABASE_URL: scratch.url,
        DATABASE_DRIVER: "postgres",
        UPSTASH_REDIS_REST_URL: await upstashGatewayUrl(),
        UPSTASH_REDIS_REST_TOKEN: GATEWAY_TOKEN,
      },
      30_000,
    );
  }, TEST_TIMEOUT_MS);

  hooks.afterAll(async () => {
    if (!stopped) await spawned?.stop();
    await runtime?.close();
    await scratch?.drop();
  }, TEST_TIMEOUT_MS);

  test(
    "the rolled-up totals equal the requests each process answered",
    async () => {
      const started = new Date(Math.floor(Date.now() / 60_000) * 60_000);
      let ok = 0;
      let failed = 0;
      await Promise.all(
        spawned.servers.map(async (server, i) => {
          for (let n = 0; n < 20 + 7 * i; n++) {
            const path = n % 5 === 4 ? "/m/fail" : `/m/ok/${n}`;
            const response = await fetch(`${server.url}${path}`);
            await response.arrayBuffer();
            if (response.status === 200) ok++;
            else if (response.status === 500) failed++;
          }
        }),
      );
      expect(ok + failed).toBe(20 + 27 + 34);
      // Graceful shutdown flushes what each process recorded since its last flush.
      stopped = true;
      await spawned.stop("SIGTERM");

      const store = await openTestStore("upstash");
      // Run as if three minutes later, when every minute of this test is closed.
      await rollUpMetrics(runtime.db.primary, store, Date.now() + 3 * 60_000);
      const rows = await readRouteMinutes(runtime.db.primary, {
        from: started,
        to: new Date(Date.now() + 60 * 60_000),
        granularity: "minute",
      });
      const total = (route: string, statusClass: number) =>
        rows.filter((r) => r.route === route && r.statusClass === statusClass).reduce((sum, r) => sum + r.count, 0);
      expect({ ok: total("/m/ok/:id", 2), failed: total("/m/fail", 5) }).toEqual({ ok, failed });
      const hours = await readRouteMinutes(runtime.db.primary, {
        from: new Date(Math.floor(started.getTime() / 3_600_000) * 3_600_000),
        to: new Date(Date.now() + 2 * 3_600_000),
        granularity: "hour",
      });
      expect(hours.filter((r) => r.route === "/m/ok/:id").reduce((sum, r) => sum + r.count, 0)).toBe(ok);
    },
    TEST_TIMEOUT_MS,
  );
});
