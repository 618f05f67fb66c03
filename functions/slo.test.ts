import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { findScheduledJob } from "../lib/cron/registry.ts";
import { runScheduledJob } from "../lib/cron/scheduled-job.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { metricsRegistry } from "../lib/metrics/metrics-registry.ts";
import { MINUTE_MS, minuteOf } from "../lib/metrics/minute-fields.ts";
import { DAY_MS } from "../lib/metrics-rollup/rollup-minutes.ts";
import type { SloReport } from "../lib/slo/slo-report.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { clearMinuteKeys, clearRollups, discardRecordedMetrics } from "../test/metrics-app.ts";
import { createTestClock } from "../test/test-clock.ts";
import auth from "./auth.ts";
import slo from "./slo.ts";

const TEST_TIMEOUT_MS = 60_000;
const ADMIN_TOKEN = "slo-test-admin-token-0123456789abcdef0123";
const METRICS_TOKEN = "slo-test-scraper-token-0123456789abcdef01";
// The in-process store: with Redis, run in one process after functions/metrics.test.ts, the refreshes counted
// twice (80 good of 90); the upstash path of the same reads is covered there.
const store = "memory";

describe(`GET /admin/slo (${store} store)`, () => {
  const clock = createTestClock();
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime({
      store,
      now: clock.now,
      env: { ADMIN_TOKEN, METRICS_TOKEN, TRUST_PROXY: "none" },
    });
    app = buildApp(runtime, [auth, slo]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  const report = (token?: string) =>
    app.fetch(
      new Request("http://localhost/admin/slo", {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      }),
    );
  // A well-formed refresh token no one issued: 401 while the database answers, 5xx once its table is gone.
  const refresh = async (count: number, status: (code: number) => boolean, first: number) => {
    for (let i = 0; i < count; i++) {
      const response = await app.fetch(
        new Request("http://localhost/v1/auth/refresh", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ refreshToken: "r".repeat(43) }),
        }),
        { requestIP: () => ({ address: `198.51.100.${first + i}` }) },
      );
      await response.arrayBuffer();
      if (!status(response.status)) throw new Error(`refresh answered ${response.status}`);
    }
  };

  test("refuses a caller without the admin credentials, the metrics token too: 401", async () => {
    for (const token of [undefined, METRICS_TOKEN]) {
      const response = await report(token);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    }
  });

  test(
    "reports the SLI, budget and burn rates of recorded traffic, and the alert it fired",
    async () => {
      const start = Math.floor((Date.now() + 28 * DAY_MS) / MINUTE_MS) * MINUTE_MS;
      clock.advance(start + 1_000 - clock.now());
      await discardRecordedMetrics(clock.now());
      await clearMinuteKeys(runtime.store, minuteOf(start));
      await clearRollups(runtime.db.primary);
      await refresh(40, (code) => code === 401, 1);
      await runtime.db.primary.execute(sql`alter table refresh_tokens rename to refresh_tokens_gone`);
      try {
        await refresh(10, (code) => code >= 500, 101);
      } finally {
        await runtime.db.primary.execute(sql`alter table refresh_tokens_gone rename to refresh_tokens`);
      }
      expect(await metricsRegistry().flush(runtime.store, clock.now(), true)).toBe(true);
      clock.advance(30_000);
      const job = findScheduledJob("evaluate-slos");
      if (job === undefined) throw new Error("evaluate-slos is not registered");
      expect((await runScheduledJob(runtime, job, new Date(clock.now()))).status).toBe("succeeded");

      const response = await report(ADMIN_TOKEN);
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      const body = (await response.json()) as { generatedAt: string; slos: SloReport[] };
      expect(body.generatedAt).toBe(new Date(clock.now()).toISOString());
      const availability = body.slos.find((s) => s.name === "auth-availability");
      // 10 errors in 50 with a 0.1 % budget: 20 % errors burn it at 200x, and spend it 200 times over.
      expect(availability).toMatchObject({ objective: 0.999, good: 40, total: 50, sliValue: 0.8 });
      expect(availability?.budgetRemaining).toBeCloseTo(1 - 200, 6);
      expect(availability?.burnRates["5m"]).toBeCloseTo(200, 6);
      expect(availability?.firing.map((alert) => alert.severity).sort()).toEqual(["page", "ticket"]);
      expect(availability?.latency.map(({ route, method, count }) => ({ route, method, count }))).toEqual([
        { route: "/v1/auth/refresh", method: "POST", count: 50 },
      ]);
      // Untouched SLOs report a full budget and no alert.
      expect(body.slos.find((s) => s.name === "orgs-availability")).toMatchObject({
        total: 0,
        sliValue: 1,
        budgetRemaining: 1,
        firing: [],
      });
    },
    TEST_TIMEOUT_MS,
  );
});
