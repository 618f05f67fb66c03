import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { LATENCY_BUCKET_COUNT } from "../metrics/latency-buckets.ts";
import type { RouteMinute } from "../metrics/route-minute.ts";
import { defineSlo } from "./slo-declaration.ts";
import { buildSloReport } from "./slo-report.ts";

const MINUTE = 60_000;

describe("SLO report", () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("synthetic traffic with a known error rate gives the exact SLI, budget remaining and percentiles", async () => {
    const now = Date.UTC(2026, 6, 1);
    const rows: RouteMinute[] = [];
    // 1,000 minutes of 1,000 requests: 999,600 good (half at ≤ 5 ms, half at 10–25 ms), 400 5xx: 0.04 % errors.
    for (let minute = 1; minute <= 1_000; minute++) {
      const start = new Date(now - minute * MINUTE);
      const good = new Array(LATENCY_BUCKET_COUNT).fill(0);
      good[0] = 500;
      good[2] = minute <= 400 ? 499 : 500;
      const bad = new Array(LATENCY_BUCKET_COUNT).fill(0);
      bad[0] = 1;
      rows.push({
        start,
        route: "/v1/orgs/:orgId",
        method: "GET",
        statusClass: 2,
        count: minute <= 400 ? 999 : 1000,
        sumMs: 0,
        buckets: good,
      });
      if (minute <= 400)
        rows.push({ start, route: "/v1/orgs/:orgId", method: "GET", statusClass: 5, count: 1, sumMs: 0, buckets: bad });
      rows.push({ start, route: "/health/live", method: "GET", statusClass: 5, count: 7, sumMs: 0, buckets: bad });
    }
    const slo = defineSlo({
      name: "orgs",
      group: "orgs",
      routes: ["/v1/orgs/*"],
      sli: { kind: "availability" },
      objective: 0.999,
    });
    const latency = defineSlo({
      name: "orgs-fast",
      group: "orgs",
      routes: ["/v1/orgs/*"],
      sli: { kind: "latency", thresholdMs: 10 },
      objective: 0.9,
    });
    const report = await buildSloReport(
      runtime.db.primary,
      [slo, latency],
      async (from, to) => rows.filter((row) => row.start >= from && row.start < to),
      new Date(now),
    );
    const [availability, fast] = report.slos;
    expect(availability).toMatchObject({ good: 999_600, total: 1_000_000, firing: [] });
    expect(availability?.sliValue).toBeCloseTo(0.9996, 12);
    // 400 bad events against a budget of 1,000 (0.1 % of a million): 60 % left.
    expect(availability?.budgetRemaining).toBeCloseTo(0.6, 12);
    // The last 5 minutes: 5 errors in 5,000 requests, 1× the budget.
    expect(availability?.burnRates["5m"]).toBeCloseTo(1, 12);
    // Latency counts non-5xx answers within 10 ms: 500 of each minute's.
    expect(fast).toMatchObject({ good: 500_000, total: 999_600 });
    // p50 falls at the end of the 0–5 ms bucket's 500,200 requests; p95 and p99 inside 10–25 ms, interpolated.
    const [route] = availability?.latency ?? [];
    expect(route?.route).toBe("/v1/orgs/:orgId");
    expect(route?.p50).toBeCloseTo(5, 2);
    expect(route?.p95).toBeCloseTo(10 + (15 * (950_000 - 500_400)) / 499_600, 6);
  });
});
