/**
 * Prometheus text (0.0.4) and OpenMetrics 1.0 renderings of cluster-wide totals: what GET /metrics answers.
 * The totals come from the rollups, not one instance's counters, so any instance answers the same.
 */
import { LATENCY_BUCKET_BOUNDS_MS } from "./latency-buckets.ts";
import type { RouteMinute } from "./route-minute.ts";

export type ExpositionFormat = "prometheus" | "openmetrics";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/** A gauge sample beside the request families, e.g. an SLO's budget remaining. */
export interface GaugeSample {
  labels: Record<string, string>;
  value: number;
}

export interface GaugeFamily {
  name: string;
  help: string;
  samples: GaugeSample[];
}

/** OpenMetrics when the Accept header asks for it, Prometheus text otherwise (what every scraper reads). */
export function expositionFormatFor(accept: string | null): ExpositionFormat {
  return accept?.includes("application/openmetrics-text") ? "openmetrics" : "prometheus";
}

function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function labelSet(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

function numberText(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(value);
}

/** Sums rows of the same route, method and status class: one series each. */
export function totalsByRoute(rows: Iterable<RouteMinute>): RouteMinute[] {
  const totals = new Map<string, RouteMinute>();
  for (const row of rows) {
    const key = `${row.route}\u0000${row.method}\u0000${row.statusClass}`;
    const total = totals.get(key);
    if (total === undefined) {
      totals.set(key, { ...row, buckets: [...row.buckets] });
      continue;
    }
    total.count += row.count;
    total.sumMs += row.sumMs;
    row.buckets.forEach((count, index) => {
      total.buckets[index] = (total.buckets[index] ?? 0) + count;
    });
    if (row.start < total.start) total.start = row.start;
  }
  return [...totals.values()].sort(
    (a, b) => a.route.localeCompare(b.route) || a.method.localeCompare(b.method) || a.statusClass - b.statusClass,
  );
}

/** Renders request counts and latency histograms per route template, method and status class, then gauges. */
export function renderExposition(
  totals: readonly RouteMinute[],
  gauges: readonly GaugeFamily[],
  format: ExpositionFormat,
): string {
  const openMetrics = format === "openmetrics";
  const lines: string[] = [];
  const requests = "rampart_http_requests";
  // OpenMetrics names the family without the _total its samples carry; Prometheus text names the sample.
  const requestsFamily = openMetrics ? requests : `${requests}_total`;
  lines.push(`# HELP ${requestsFamily} Requests answered, cluster-wide, by route template, method and status class.`);
  lines.push(`# TYPE ${requestsFamily} counter`);
  for (const row of totals) {
    const labels = { route: row.route, method: row.method, status_class: `${row.statusClass}xx` };
    lines.push(`${requests}_total${labelSet(labels)} ${row.count}`);
  }
  const duration = "rampart_http_request_duration_seconds";
  lines.push(`# HELP ${duration} Time from the request's arrival to its answer, cluster-wide.`);
  lines.push(`# TYPE ${duration} histogram`);
  for (const row of totals) {
    const labels = { route: row.route, method: row.method, status_class: `${row.statusClass}xx` };
    let cumulative = 0;
    LATENCY_BUCKET_BOUNDS_MS.forEach((boundMs, index) => {
      cumulative += row.buckets[index] ?? 0;
      lines.push(`${duration}_bucket${labelSet({ ...labels, le: String(boundMs / 1000) })} ${cumulative}`);
    });
    lines.push(`${duration}_bucket${labelSet({ ...labels, le: "+Inf" })} ${row.count}`);
    lines.push(`${duration}_sum${labelSet(labels)} ${numberText(row.sumMs / 1000)}`);
    lines.push(`${duration}_count${labelSet(labels)} ${row.count}`);
  }
  for (const family of gauges) {
    lines.push(`# HELP ${family.name} ${family.help}`);
    lines.push(`# TYPE ${family.name} gauge`);
    for (const sample of family.samples)
      lines.push(`${family.name}${labelSet(sample.labels)} ${numberText(sample.value)}`);
  }
  if (openMetrics) lines.push("# EOF");
  return `${lines.join("\n")}\n`;
}
