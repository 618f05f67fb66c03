import { describe, expect, test } from "bun:test";
import { describeWithServers } from "../../test/describe-with-servers.ts";
import { parseExposition } from "../../test/prometheus-parser.ts";
import { expositionFormatFor, type GaugeFamily, renderExposition, totalsByRoute } from "./exposition.ts";
import { LATENCY_BUCKET_COUNT } from "./latency-buckets.ts";
import type { RouteMinute } from "./route-minute.ts";

function minute(start: string, statusClass: RouteMinute["statusClass"], count: number, bucket: number): RouteMinute {
  const buckets = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  buckets[bucket] = count;
  return {
    start: new Date(start),
    route: "/v1/orgs/:orgId",
    method: "GET",
    statusClass,
    count,
    sumMs: count * 7,
    buckets,
  };
}

const ROWS = [
  minute("2026-12-04T10:00:00Z", 2, 90, 1),
  minute("2026-12-04T10:01:00Z", 2, 10, 4),
  minute("2026-12-04T10:01:00Z", 5, 3, 11),
  { ...minute("2026-12-04T10:01:00Z", 2, 5, 0), route: 'a "quoted" \\ route\nwith a newline' },
];
const GAUGES: GaugeFamily[] = [
  {
    name: "rampart_slo_error_budget_remaining",
    help: "Share of the error budget left.",
    samples: [{ labels: { slo: "api" }, value: 0.5 }],
  },
];
const OK = { route: "/v1/orgs/:orgId", method: "GET", status_class: "2xx" };

describe("the /metrics exposition", () => {
  test("sums the minutes of each route, method and status class into one series", () => {
    const totals = totalsByRoute(ROWS);
    expect(totals.map(({ route, statusClass, count }) => [route, statusClass, count])).toEqual([
      ["/v1/orgs/:orgId", 2, 100],
      ["/v1/orgs/:orgId", 5, 3],
      ['a "quoted" \\ route\nwith a newline', 2, 5],
    ]);
  });

  test("answers OpenMetrics only when the Accept header asks for it", () => {
    expect(expositionFormatFor("application/openmetrics-text; version=1.0.0")).toBe("openmetrics");
    expect(expositionFormatFor("text/plain;version=0.0.4;q=0.5,*/*;q=0.1")).toBe("prometheus");
    expect(expositionFormatFor(null)).toBe("prometheus");
  });
});

describeWithServers(["prometheus"], "the /metrics exposition read by Prometheus's own parsers", () => {
  for (const format of ["prometheus", "openmetrics"] as const) {
    test(`${format}: counts, cumulative buckets ending at the count, escaped labels and gauges`, async () => {
      const families = await parseExposition(renderExposition(totalsByRoute(ROWS), GAUGES, format), format);
      const samples = families.flatMap((family) => family.samples);
      const value = (name: string, labels: Record<string, string>) =>
        samples.find((sample) => sample.name === name && Bun.deepEquals(sample.labels, labels))?.value;
      expect(value("rampart_http_requests_total", OK)).toBe(100);
      expect(value("rampart_http_requests_total", { ...OK, status_class: "5xx" })).toBe(3);
      expect(value("rampart_http_requests_total", { ...OK, route: 'a "quoted" \\ route\nwith a newline' })).toBe(5);
      // 90 requests under 10 ms and 10 under 100 ms: buckets are cumulative and +Inf holds them all.
      const bucket = (le: string) => value("rampart_http_request_duration_seconds_bucket", { ...OK, le });
      expect([bucket("0.005"), bucket("0.01"), bucket("0.05"), bucket("0.1"), bucket("+Inf")]).toEqual([
        0, 90, 90, 100, 100,
      ]);
      expect(value("rampart_http_request_duration_seconds_count", OK)).toBe(100);
      expect(value("rampart_http_request_duration_seconds_sum", OK)).toBeCloseTo(0.7);
      expect(value("rampart_slo_error_budget_remaining", { slo: "api" })).toBe(0.5);
    });
  }

  test("the OpenMetrics parser refuses a body without # EOF, so the check is real", async () => {
    const text = renderExposition(totalsByRoute(ROWS), GAUGES, "openmetrics").replace("# EOF\n", "");
    await expect(parseExposition(text, "openmetrics")).rejects.toThrow("refused");
  });
});
