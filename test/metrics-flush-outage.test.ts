/**
 * Metrics recorded while Redis is unreachable: requests are answered as usual, the deltas stay in the
 * instance's memory (the fallback store must not swallow them) and are added to the cluster's minute once
 * Redis is back. Runs when TEST_REDIS_URL is set.
 */
import { expect, test } from "bun:test";
import { createLogger } from "../lib/log/logger.ts";
import { metricsRegistry } from "../lib/metrics/metrics-registry.ts";
import { MINUTE_MS, minuteKey, minuteOf } from "../lib/metrics/minute-fields.ts";
import { createBreaker } from "../lib/resilience/breaker.ts";
import { deriveRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import { FallbackStore } from "../lib/store/fallback-store.ts";
import { UpstashStore } from "../lib/store/upstash-store.ts";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  GATEWAY_TOKEN,
  openTestRuntime,
  openTestStore,
  TEST_REDIS_URL,
  type TestRuntime,
  upstashGatewayUrl,
} from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { buildMetricsApp, discardRecordedMetrics, send } from "./metrics-app.ts";
import { startTcpRelay, type TcpRelay } from "./tcp-relay.ts";
import { createTestClock } from "./test-clock.ts";

const TEST_TIMEOUT_MS = 60_000;

describeWithServers(["redis"], "metrics flush while Redis is unreachable", (hooks) => {
  const clock = createTestClock();
  let base: TestRuntime;
  let runtime: Runtime;
  let relay: TcpRelay;

  hooks.beforeAll(async () => {
    base = await openTestRuntime({ now: clock.now });
    const redisUrl = new URL(TEST_REDIS_URL ?? "");
    relay = startTcpRelay({ hostname: redisUrl.hostname, port: Number(redisUrl.port) });
    const quiet = createLogger({ sink: () => {} });
    const upstash = new UpstashStore({
      url: await upstashGatewayUrl(`redis://127.0.0.1:${relay.port}`),
      token: GATEWAY_TOKEN,
      timeoutMs: 1_000,
    });
    // A breaker that stays closed, so the test never waits out its half-open delay in real time.
    const store = new FallbackStore(upstash, createBreaker("redis", quiet, { consecutiveFailures: 1_000 }), quiet);
    runtime = deriveRuntime(base, { store });
  }, BACKEND_HOOK_TIMEOUT_MS);

  hooks.afterAll(async () => {
    relay?.close();
    await base?.close();
  });

  test(
    "requests are counted while Redis is down and reach the store's current minute once it is back",
    async () => {
      const direct = await openTestStore("upstash");
      const app = buildMetricsApp(runtime);
      // Ten days ahead: minutes no other test of this Redis writes.
      const minute = minuteOf(Date.now()) + 10 * 1440;
      const moveTo = (at: number) => clock.advance(at - clock.now());
      moveTo(minute * MINUTE_MS + 1_000);
      await discardRecordedMetrics(clock.now());
      await direct.del(minuteKey(minute), minuteKey(minute + 3));

      relay.kill();
      await send(app, "/m/ok/1", 5, 200);
      moveTo(minute * MINUTE_MS + 20_000);
      expect(await metricsRegistry().flush(runtime.store, clock.now(), true)).toBe(false);
      expect(metricsRegistry().pendingMinutes()).toEqual([minute]);

      moveTo((minute + 3) * MINUTE_MS + 5_000);
      await send(app, "/m/ok/2", 2, 200);
      moveTo((minute + 3) * MINUTE_MS + 20_000);
      expect(await metricsRegistry().flush(runtime.store, clock.now(), true)).toBe(false);
      // The old minute may be rolled up already: its deltas wait under the current one, memory stays bounded.
      expect(metricsRegistry().pendingMinutes()).toEqual([minute + 3]);

      relay.revive();
      moveTo((minute + 3) * MINUTE_MS + 35_000);
      expect(await metricsRegistry().flush(runtime.store, clock.now(), true)).toBe(true);
      expect(metricsRegistry().pendingMinutes()).toEqual([]);
      expect(await direct.readFields(minuteKey(minute))).toEqual({});
      const fields = await direct.readFields(minuteKey(minute + 3));
      expect(fields["r\tGET\t/m/ok/:id\t2\t0"]).toBe(7);
      await direct.del(minuteKey(minute + 3));
    },
    TEST_TIMEOUT_MS,
  );
});
