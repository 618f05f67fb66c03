import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { findScheduledJob } from "../lib/cron/registry.ts";
import { runScheduledJob } from "../lib/cron/scheduled-job.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { type ExpositionFormat, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from "../lib/metrics/exposition.ts";
import { metricsRegistry } from "../lib/metrics/metrics-registry.ts";
import { MINUTE_MS, minuteKey, minuteOf } from "../lib/metrics/minute-fields.ts";
import { DAY_MS } from "../lib/metrics-rollup/rollup-minutes.ts";
import { DECLARED_SLOS } from "../lib/slo/declared-slos.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, STORE_BACKENDS, type TestRuntime } from "../test/backends.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { clearRollups, discardRecordedMetrics, metricsRoutes, send } from "../test/metrics-app.ts";
import { type ParsedFamily, parseExposition } from "../test/prometheus-parser.ts";
import { createTestClock } from "../test/test-clock.ts";
import admin from "./admin.ts";
import health from "./health.ts";
import metrics from "./metrics.ts";

const TEST_TIMEOUT_MS = 60_000;
const ADMIN_TOKEN = "metrics-test-admin-token-0123456789abcdef";
const METRICS_TOKEN = "metrics-test-scraper-token-0123456789abcd";
const store = STORE_BACKENDS.at(-1) ?? "memory";

function sampleValue(families: ParsedFamily[], name: string, labels: Record<string, string>): number | undefined {
  for (const family of families)
    for (const sample of family.samples)
      if (sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
        return sample.value;
  return undefined;
}

describe(`GET /metrics (${store} store)`, () => {
  const clock = createTestClock();
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime({ store, now: clock.now, env: { ADMIN_TOKEN, METRICS_TOKEN } });
    app = buildApp(runtime, [health, metricsRoutes, metrics, admin]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  beforeEach(async () => {
    clock.reset();
    await clearRollups(runtime.db.primary);
  });

  const get = (path: string, token?: string, accept?: string) =>
    app.fetch(
      new Request(`http://localhost${path}`, {
        headers: { ...(token && { authorization: `Bearer ${token}` }), ...(accept && { accept }) },
      }),
    );

  test("refuses a call without a credential: 401", async () => {
    const response = await get("/metrics");
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
  });

  test("admits METRICS_TOKEN and ADMIN_TOKEN, answered no-store in Prometheus text", async () => {
    for (const token of [METRICS_TOKEN, ADMIN_TOKEN]) {
      const response = await get("/metrics", token);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe(PROMETHEUS_CONTENT_TYPE);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(await response.text()).toContain("# TYPE rampart_http_requests_total counter");
    }
  });

  test("METRICS_TOKEN opens no other admin route: /admin/settings answers it 401", async () => {
    const refused = await get("/admin/settings", METRICS_TOKEN);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    expect((await get("/admin/settings", ADMIN_TOKEN)).status).toBe(200);
  });

  describeWithServers(["prometheus"], "read by the Prometheus client's parsers", () => {
    const moveTo = (at: number) => clock.advance(at - clock.now());
    const flush = async () => expect(await metricsRegistry().flush(runtime.store, clock.now(), true)).toBe(true);
    const rollup = async () => {
      const job = findScheduledJob("rollup-metrics");
      if (job === undefined) throw new Error("rollup-metrics is not registered");
      expect((await runScheduledJob(runtime, job, new Date(clock.now()))).status).toBe("succeeded");
    };
    const scrape = async (format: ExpositionFormat) => {
      const accept = format === "openmetrics" ? "application/openmetrics-text; version=1.0.0" : undefined;
      const response = await get("/metrics", METRICS_TOKEN, accept);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe(
        format === "openmetrics" ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE,
      );
      return parseExposition(await response.text(), format);
    };

    test(
      "counts every request sent once, from day, hour and minute rows and the minutes still in the store",
      async () => {
        // Days of their own in the shared Redis, three weeks past anything other tests use.
        const day = Math.floor((Date.now() + 21 * DAY_MS) / DAY_MS) * DAY_MS;
        moveTo(day - 50 * MINUTE_MS);
        await discardRecordedMetrics(clock.now());
        // An earlier run's last minute stays in the store for its 3 h lifetime: start from none.
        for (let minute = minuteOf(day) - 50; minute <= minuteOf(day) + 83; minute++)
          await runtime.store.del(minuteKey(minute));
        // Yesterday at 23:10: a day row by the end.
        await send(app, "/m/ok/a", 5, 200);
        await send(app, "/m/fail", 2, 500);
        await flush();
        // Today at 00:10: an hour row.
        moveTo(day + 10 * MINUTE_MS);
        await rollup();
        await send(app, "/m/ok/b", 7, 200);
        await flush();
        // Today at 01:20: a minute row, rolled up three minutes later.
        moveTo(day + 80 * MINUTE_MS);
        await rollup();
        await send(app, "/m/ok/c", 11, 200);
        await send(app, "/m/fail", 3, 500);
        await flush();
        moveTo(day + 83 * MINUTE_MS);
        await rollup();
        // And a minute still in the store, not rolled up.
        await send(app, "/m/ok/d", 13, 200);
        await flush();
        expect(minuteOf(clock.now())).toBe(minuteOf(day) + 83);

        for (const format of ["prometheus", "openmetrics"] as const) {
          const families = await scrape(format);
          const ok = { route: "/m/ok/:id", method: "GET", status_class: "2xx" };
          const failed = { route: "/m/fail", method: "GET", status_class: "5xx" };
          expect(sampleValue(families, "rampart_http_requests_total", ok)).toBe(5 + 7 + 11 + 13);
          expect(sampleValue(families, "rampart_http_requests_total", failed)).toBe(2 + 3);
          expect(sampleValue(families, "rampart_http_request_duration_seconds_count", ok)).toBe(36);
          expect(sampleValue(families, "rampart_http_request_duration_seconds_bucket", { ...ok, le: "+Inf" })).toBe(36);
          // Every declared SLO has its gauges; none covers these routes, so each is untouched.
          for (const slo of DECLARED_SLOS) {
            expect(sampleValue(families, "rampart_slo_error_budget_remaining", { slo: slo.name })).toBe(1);
            expect(sampleValue(families, "rampart_slo_objective", { slo: slo.name })).toBe(slo.objective);
            expect(sampleValue(families, "rampart_slo_burn_rate", { slo: slo.name, window: "1h" })).toBe(0);
            expect(sampleValue(families, "rampart_slo_alert_firing", { slo: slo.name, severity: "page" })).toBe(0);
          }
        }
      },
      TEST_TIMEOUT_MS,
    );
  });
});
