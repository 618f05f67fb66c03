import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, STORE_BACKENDS, type TestRuntime } from "../../test/backends.ts";
import {
  buildMetricsApp,
  clearMinuteKeys,
  clearRollups,
  discardRecordedMetrics,
  send,
} from "../../test/metrics-app.ts";
import { createTestClock } from "../../test/test-clock.ts";
import { createEvaluateSlosJob } from "../cron/jobs/evaluate-slos.ts";
import { findScheduledJob } from "../cron/registry.ts";
import { runScheduledJob } from "../cron/scheduled-job.ts";
import { metricsHour, metricsMinute, sloAlerts } from "../db/schema/index.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import { MINUTE_MS, minuteOf } from "../metrics/minute-fields.ts";
import { MINUTE_DETAIL_MS, rollupMinuteSource } from "./rollup-minute-source.ts";
import { defineSlo } from "./slo-declaration.ts";
import { buildSloReport } from "./slo-report.ts";

const TEST_TIMEOUT_MS = 60_000;
const store = STORE_BACKENDS.at(-1) ?? "memory";
const SLO = defineSlo({
  name: "metrics-test-availability",
  group: "metrics-test",
  routes: ["/m/*"],
  sli: { kind: "availability" },
  objective: 0.999,
});

describe(`SLOs read from recorded traffic (${store} store)`, () => {
  const clock = createTestClock();
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ store, now: clock.now });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  beforeEach(async () => {
    clock.reset();
    await clearRollups(runtime.db.primary);
  });

  const moveTo = (at: number) => clock.advance(at - clock.now());
  const flush = () => metricsRegistry().flush(runtime.store, clock.now(), true);
  const rollup = async () => {
    const job = findScheduledJob("rollup-metrics");
    if (job === undefined) throw new Error("rollup-metrics is not registered");
    expect((await runScheduledJob(runtime, job, new Date(clock.now()))).status).toBe("succeeded");
  };

  test(
    "requests answered 500 page through rolled-up and still-open minutes, each request counted once",
    async () => {
      // Minutes of their own in the shared Redis, past anything the rollup tests use; the rollup looks back
      // 3 h from an empty cursor, so what an earlier run left in that span is deleted first.
      const minute = minuteOf(Date.now()) + 7 * 1440 + 11;
      await clearMinuteKeys(runtime.store, minute);
      moveTo(minute * MINUTE_MS + 1_000);
      await discardRecordedMetrics(clock.now());
      const app = buildMetricsApp(runtime);
      await send(app, "/m/ok/a", 40, 200);
      await send(app, "/m/fail", 60, 500);
      expect(await flush()).toBe(true);
      // Three minutes on, the first minute is rolled up; the next requests stay in the store, not yet rolled.
      moveTo((minute + 3) * MINUTE_MS + 1_000);
      await rollup();
      await send(app, "/m/ok/b", 10, 200);
      expect(await flush()).toBe(true);
      moveTo((minute + 3) * MINUTE_MS + 30_000);

      const source = rollupMinuteSource(runtime);
      const report = await buildSloReport(runtime.db.primary, [SLO], source, new Date(clock.now()));
      expect(report.slos[0]).toMatchObject({ name: SLO.name, good: 50, total: 110 });

      const job = createEvaluateSlosJob({ slos: [SLO], minutesOf: rollupMinuteSource });
      const outcome = await runScheduledJob(runtime, job, new Date(clock.now()));
      expect(outcome).toMatchObject({
        status: "succeeded",
        detail: expect.stringContaining(`slo:${SLO.name}:page firing`),
      });
      const alerts = await runtime.db.primary.select().from(sloAlerts);
      // 55 % errors burn the budget at 545x: every window of every rule holds, the page and the ticket fire.
      expect(
        alerts.map(({ severity, state }) => ({ severity, state })).sort((a, b) => a.severity.localeCompare(b.severity)),
      ).toEqual([
        { severity: "page", state: "firing" },
        { severity: "ticket", state: "firing" },
      ]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a window longer than the minute detail reads hour rows before it and minute rows after, never both",
    async () => {
      const now = Date.UTC(2027, 0, 10, 12, 30);
      moveTo(now);
      const hour = Date.UTC(2027, 0, 9, 6);
      const recentMinute = now - 2 * 3_600_000;
      const row = (start: number, count: number) => ({
        route: "/m/ok/:id",
        method: "GET",
        statusClass: 2,
        start: new Date(start),
        count,
        sumMs: 1,
        buckets: [count, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      });
      await runtime.db.primary.insert(metricsHour).values(row(hour, 7));
      // The same traffic's minute row in the hour table's span is ignored: the hour already holds it.
      await runtime.db.primary.insert(metricsMinute).values([row(hour, 7), row(recentMinute, 3)]);
      const rows = await rollupMinuteSource(runtime)(new Date(now - 3 * 86_400_000), new Date(now));
      expect(rows.map(({ start, count }) => [start.toISOString(), count])).toEqual([
        [new Date(hour).toISOString(), 7],
        [new Date(recentMinute).toISOString(), 3],
      ]);
      expect(now - hour).toBeGreaterThan(MINUTE_DETAIL_MS);
    },
    TEST_TIMEOUT_MS,
  );
});
