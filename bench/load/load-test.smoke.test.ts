/**
 * The 10-second smoke load test: the `bun dev` server, every route measured beside the health route, each
 * route's throughput ratio to health compared with the committed baseline. Only a route several times
 * slower than its peer fails it, so a busy machine does not.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type SpawnedServers, spawnServers } from "../../test/spawned-servers.ts";
import { runLoadTest } from "./load-test.ts";
import { BASELINE_FILE } from "./paths.ts";
import { compareWithBaseline } from "./regression.ts";
import type { BaselineRoute } from "./scenarios.ts";
import { ROUTE_NAMES, type RouteName } from "./target-routes.ts";

const ADMIN_TOKEN = "loadtest-smoke-admin-token-0123456789abcdef";
let spawned: SpawnedServers;

beforeAll(async () => {
  spawned = await spawnServers("dev/server.ts", 1, { ADMIN_TOKEN, LOG_LEVEL: "warn" }, 60_000);
}, 90_000);

afterAll(async () => {
  await spawned?.stop();
});

test("no route has become several times slower than the health route since the committed baseline", async () => {
  const url = spawned.servers[0]?.url ?? "";
  const report = await runLoadTest("smoke", { url, adminToken: ADMIN_TOKEN });
  const measured = report.baseline ?? {};
  expect(Object.keys(measured).toSorted()).toEqual([...ROUTE_NAMES].toSorted());
  const failing = Object.entries(measured).filter(([, route]) => route.errorRate > 0.01);
  expect(failing.map(([name, route]) => [name, route.statuses])).toEqual([]);
  expect(report.run.rateLimits.overridden).toBe(true);
  // The cached GET answers from the cache (fresh or stale): a broken cache would be only a few times slower.
  const cache = measured.cachedGet?.cache ?? {};
  const fromCache = ((cache.HIT ?? 0) + (cache.STALE ?? 0)) / Object.values(cache).reduce((a, b) => a + b, 0);
  expect({ fromCache: fromCache > 0.9, cache }).toMatchObject({ fromCache: true });
  const committed = (await Bun.file(BASELINE_FILE).json()) as { baseline: Record<RouteName, BaselineRoute> };
  const regressed = compareWithBaseline(committed.baseline, measured).filter((c) => c.regressed);
  expect(regressed).toEqual([]);
}, 120_000);
