import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  DATABASE_BACKENDS,
  openTestRuntime,
  STORE_BACKENDS,
  type TestRuntime,
} from "../../test/backends.ts";
import {
  buildMetricsApp,
  clearMinuteKeys,
  clearRollups,
  discardRecordedMetrics,
  send,
} from "../../test/metrics-app.ts";
import { createTestClock } from "../../test/test-clock.ts";
import { findScheduledJob } from "../cron/registry.ts";
import { runScheduledJob } from "../cron/scheduled-job.ts";
import { metricsDay, metricsHour, metricsMinute, metricsSeriesMinute } from "../db/schema/index.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import { MINUTE_MS, minuteKey, minuteOf } from "../metrics/minute-fields.ts";
import type { RouteMinute } from "../metrics/route-minute.ts";
import { readRouteMinutes } from "./read-route-minutes.ts";
import { DAY_MS, rollUpMetrics } from "./rollup-minutes.ts";

const TEST_TIMEOUT_MS = 60_000;
const store = STORE_BACKENDS.at(-1) ?? "memory";

/** Rows as comparable values: per (route, method, class), in a stable order. */
const byKey = (rows: RouteMinute[]) =>
  rows
    .map((r) => ({ ...r, start: r.start.toISOString(), sumMs: Math.round(r.sumMs * 1000) }))
    .sort((a, b) =>
      `${a.start}${a.route}${a.method}${a.statusClass}`.localeCompare(
        `${b.start}${b.route}${b.method}${b.statusClass}`,
      ),
    );

describe.each(DATABASE_BACKENDS)(`rollup-metrics on %s with the ${store} store`, (backend) => {
  const clock = createTestClock();
  // Each backend's minutes three days apart from the others': they share one Redis and its minute keys.
  const baseMinute = () => minuteOf(Date.now()) + DATABASE_BACKENDS.indexOf(backend) * 3 * 1440;
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend, store, now: clock.now });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  beforeEach(async () => {
    clock.reset();
    await clearRollups(runtime.db.primary);
  });

  /** Moves the stopped clock to `at` (epoch ms), which must not be in its past. */
  const moveTo = (at: number) => clock.advance(at - clock.now());
  const flush = () => metricsRegistry().flush(runtime.store, clock.now(), true);
  const all = (granularity: "minute" | "hour" | "day") =>
    readRouteMinutes(runtime.db.primary, { from: new Date(0), to: new Date("3000-01-01"), granularity });

  test("is registered every minute, with the retention job", () => {
    expect(findScheduledJob("rollup-metrics")?.schedule).toBe("* * * * *");
    expect(findScheduledJob("prune-metrics")).toBeDefined();
  });

  test(
    "a closed minute's requests land in metrics_minute once; a second run or a late flush changes nothing",
    async () => {
      const app = buildMetricsApp(runtime);
      // A minute well after anything other tests of this file used, so the cursor of an earlier test is no concern.
      const minute = baseMinute() + 2;
      // The rollup catches up 3 h from an empty cursor: what an earlier run left in the shared Redis goes first.
      await clearMinuteKeys(runtime.store, minute);
      const at = (ms: number) => moveTo(minute * MINUTE_MS + ms);
      at(5_000);
      await discardRecordedMetrics(clock.now());
      await send(app, "/m/ok/a", 3, 200);
      await send(app, "/m/fail", 1, 500);
      await send(app, "/nowhere", 2, 404);
      // From an address of its own: the limit's counter lives in the shared Redis, beyond this test.
      const ip = `10.${Array.from(crypto.getRandomValues(new Uint8Array(3))).join(".")}`;
      await send(app, "/m/limited", 1, 200, ip);
      await send(app, "/m/limited", 1, 429, ip);
      at(30_000);
      expect(await flush()).toBe(true);
      at(50_000);
      await send(app, "/m/ok/b", 2, 200);
      // Flushed 1 min 50 s into the next minute: late, but within the grace.
      at(MINUTE_MS + 50_000);
      expect(await flush()).toBe(true);

      await rollUpMetrics(runtime.db.primary, runtime.store, minute * MINUTE_MS + 2 * MINUTE_MS + 30_000);
      expect(await all("minute")).toEqual([]);

      at(3 * MINUTE_MS + 5_000);
      const job = findScheduledJob("rollup-metrics");
      expect(await runScheduledJob(runtime, job as NonNullable<typeof job>, new Date(clock.now()))).toMatchObject({
        status: "succeeded",
      });
      const rows = byKey(await all("minute"));
      // The registry is one per process: an earlier test file's background work (a cache refresh) may record
      // into this minute too, so only this app's routes are compared.
      const own = rows.filter(({ route }) => route === "(unmatched)" || route.startsWith("/m/"));
      expect(own.map(({ route, method, statusClass, count }) => ({ route, method, statusClass, count }))).toEqual([
        { route: "(unmatched)", method: "GET", statusClass: 4, count: 2 },
        { route: "/m/fail", method: "GET", statusClass: 5, count: 1 },
        { route: "/m/limited", method: "GET", statusClass: 2, count: 1 },
        { route: "/m/limited", method: "GET", statusClass: 4, count: 1 },
        { route: "/m/ok/:id", method: "GET", statusClass: 2, count: 5 },
      ]);
      const series = await runtime.db.primary.select().from(metricsSeriesMinute);
      const decisions = series.filter((row) => row.name === "rate_limit" && row.labels.includes("rule=metrics-test"));
      expect(
        decisions.map(({ labels, count }) => ({ labels, count })).sort((a, b) => a.labels.localeCompare(b.labels)),
      ).toEqual([
        { labels: "decision=allowed,rule=metrics-test", count: 1 },
        { labels: "decision=refused,rule=metrics-test", count: 1 },
      ]);
      if (store === "upstash")
        expect(series.find((row) => row.name === "dependency" && row.labels === "name=redis")?.count).toBeGreaterThan(
          0,
        );
      for (const row of rows) {
        expect(row.start).toBe(new Date(minute * MINUTE_MS).toISOString());
        expect(row.buckets.reduce((a, b) => a + b, 0)).toBe(row.count);
      }
      expect(await runtime.store.readFields(minuteKey(minute))).toEqual({});

      await rollUpMetrics(runtime.db.primary, runtime.store, clock.now());
      await rollUpMetrics(runtime.db.primary, runtime.store, clock.now() + 5 * MINUTE_MS);
      expect(byKey(await all("minute"))).toEqual(rows);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "skipped runs are caught up, and the sums over minutes equal the hour's and the day's across both boundaries",
    async () => {
      const app = buildMetricsApp(runtime);
      // Three minutes before a UTC midnight, to six minutes after it: two hours and two days.
      const first = minuteOf((Math.floor((baseMinute() * MINUTE_MS) / DAY_MS) + 1) * DAY_MS) - 3;
      moveTo(first * MINUTE_MS + 1_000);
      await discardRecordedMetrics(clock.now());
      let sent = 0;
      for (let i = 0; i < 9; i++) {
        moveTo((first + i) * MINUTE_MS + 1_000);
        await send(app, `/m/ok/${i}`, i + 1, 200);
        await send(app, "/m/fail", i % 3, 500);
        sent += i + 1 + (i % 3);
        moveTo((first + i) * MINUTE_MS + 55_000);
        expect(await flush()).toBe(true);
      }
      // One run, long after: every minute since the cursor (none yet) is taken.
      await rollUpMetrics(runtime.db.primary, runtime.store, (first + 9) * MINUTE_MS + 10 * MINUTE_MS);

      const minutes = await all("minute");
      const hours = await all("hour");
      const days = await all("day");
      expect(new Set(minutes.map((r) => r.start.getTime()))).toEqual(
        new Set(Array.from({ length: 9 }, (_, i) => (first + i) * MINUTE_MS)),
      );
      expect(hours.map((r) => r.start.getTime() % 3_600_000)).toEqual(hours.map(() => 0));
      expect(new Set(hours.map((r) => r.start.getTime())).size).toBe(2);
      expect(new Set(days.map((r) => r.start.getTime())).size).toBe(2);
      const totalsBy = (rows: RouteMinute[], period: number) => {
        const totals = new Map<string, { count: number; buckets: number[]; sumUs: number }>();
        for (const r of rows) {
          const key = `${Math.floor(r.start.getTime() / period)} ${r.method} ${r.route} ${r.statusClass}`;
          const total = totals.get(key) ?? { count: 0, buckets: r.buckets.map(() => 0), sumUs: 0 };
          total.count += r.count;
          total.sumUs += Math.round(r.sumMs * 1000);
          r.buckets.forEach((n, i) => {
            total.buckets[i] = (total.buckets[i] ?? 0) + n;
          });
          totals.set(key, total);
        }
        return [...totals].sort(([a], [b]) => a.localeCompare(b));
      };
      expect(totalsBy(minutes, 3_600_000)).toEqual(totalsBy(hours, 3_600_000));
      expect(totalsBy(hours, DAY_MS)).toEqual(totalsBy(days, DAY_MS));
      expect(days.reduce((n, r) => n + r.count, 0)).toBe(sent);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "prune-metrics keeps minutes 48 h, hours 35 days and days 400 days",
    async () => {
      const db = runtime.db.primary;
      const now = clock.now();
      const row = (agoMs: number) => ({
        start: new Date(now - agoMs),
        route: "/m/ok/:id",
        method: "GET",
        statusClass: 2,
        count: 1,
        sumMs: 1,
        buckets: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      });
      const HOUR = 3_600_000;
      await db.insert(metricsMinute).values([row(47 * HOUR), row(49 * HOUR)]);
      await db.insert(metricsHour).values([row(34 * DAY_MS), row(36 * DAY_MS)]);
      await db.insert(metricsDay).values([row(399 * DAY_MS), row(401 * DAY_MS)]);
      const job = findScheduledJob("prune-metrics");
      expect(await runScheduledJob(runtime, job as NonNullable<typeof job>, new Date(now))).toMatchObject({
        status: "succeeded",
      });
      const ages = async (granularity: "minute" | "hour" | "day") =>
        (await all(granularity)).map((r) => Math.round((now - r.start.getTime()) / HOUR));
      expect({ minute: await ages("minute"), hour: await ages("hour"), day: await ages("day") }).toEqual({
        minute: [47],
        hour: [34 * 24],
        day: [399 * 24],
      });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "readRouteMinutes adds the minutes still in the store",
    async () => {
      const app = buildMetricsApp(runtime);
      const minute = baseMinute() + 30;
      await runtime.store.del(minuteKey(minute));
      moveTo(minute * MINUTE_MS + 1_000);
      await discardRecordedMetrics(clock.now());
      await send(app, "/m/ok/x", 4, 200);
      moveTo(minute * MINUTE_MS + 20_000);
      expect(await flush()).toBe(true);
      const read = (open: boolean) =>
        readRouteMinutes(runtime.db.primary, {
          from: new Date(minute * MINUTE_MS),
          to: new Date((minute + 1) * MINUTE_MS),
          granularity: "minute",
          ...(open && { open: { store: runtime.store, now: clock.now() } }),
        });
      expect(await read(false)).toEqual([]);
      expect((await read(true)).map(({ route, count }) => ({ route, count }))).toEqual([
        { route: "/m/ok/:id", count: 4 },
      ]);
      await runtime.store.del(minuteKey(minute));
    },
    TEST_TIMEOUT_MS,
  );
});
