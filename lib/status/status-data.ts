/** What the public status page shows: per-group SLO cards and series, and open incidents; no secrets, no raw paths. */
import { LATENCY_BUCKET_COUNT } from "../metrics/latency-buckets.ts";
import type { RouteMinute } from "../metrics/route-minute.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { DECLARED_SLOS } from "../slo/declared-slos.ts";
import { percentileOf } from "../slo/latency-percentiles.ts";
import { rollupMinuteSource } from "../slo/rollup-minute-source.ts";
import type { Slo } from "../slo/slo-declaration.ts";
import { buildSloReport } from "../slo/slo-report.ts";

export interface StatusSlo {
  name: string;
  group: string;
  kind: "availability" | "latency";
  objective: number;
  window: string;
  /** Good share over the window; null without traffic. */
  sli: number | null;
  /** Share of the error budget left (negative once overspent); null without traffic. */
  budgetRemaining: number | null;
}

export interface StatusGroup {
  name: string;
  slos: StatusSlo[];
  /** One point per hour: start (Unix seconds), non-5xx share and p95 latency; null where nothing was served. */
  series: { time: number[]; availability: (number | null)[]; p95Ms: (number | null)[] };
}

export interface StatusIncident {
  slo: string;
  severity: "page" | "ticket";
  since: string;
}

export interface StatusData {
  generatedAt: string;
  groups: StatusGroup[];
  incidents: StatusIncident[];
}

/** Span of the charts, and the width of one point. */
export const STATUS_SERIES_SPAN_MS = 24 * 3_600_000;
export const STATUS_POINT_MS = 15 * 60_000;

function windowText(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : `${Math.round(ms / 3_600_000)}h`;
}

/** Availability and p95 of the rows an SLO of the group covers, in STATUS_POINT_MS steps ending at `end`. */
function seriesOf(slos: readonly Slo[], rows: readonly RouteMinute[], end: number): StatusGroup["series"] {
  const first = Math.floor((end - STATUS_SERIES_SPAN_MS) / STATUS_POINT_MS) * STATUS_POINT_MS;
  const points = Math.ceil((end - first) / STATUS_POINT_MS);
  const totals = new Array<number>(points).fill(0);
  const errors = new Array<number>(points).fill(0);
  const buckets = Array.from({ length: points }, () => new Array<number>(LATENCY_BUCKET_COUNT).fill(0));
  for (const row of rows) {
    if (!slos.some((slo) => slo.coversRoute(row.route))) continue;
    const point = Math.floor((row.start.getTime() - first) / STATUS_POINT_MS);
    if (point < 0 || point >= points) continue;
    totals[point] = (totals[point] ?? 0) + row.count;
    if (row.statusClass === 5) errors[point] = (errors[point] ?? 0) + row.count;
    const into = buckets[point] ?? [];
    row.buckets.forEach((count, index) => {
      into[index] = (into[index] ?? 0) + count;
    });
  }
  return {
    time: totals.map((_, point) => (first + point * STATUS_POINT_MS) / 1000),
    availability: totals.map((total, point) => (total === 0 ? null : 1 - (errors[point] ?? 0) / total)),
    p95Ms: buckets.map((histogram) => percentileOf(histogram, 0.95) ?? null),
  };
}

/** The page's data: each SLO group's cards and series, and the alerts firing now; nothing else leaves. */
export async function readStatusData(runtime: Runtime, slos: readonly Slo[] = DECLARED_SLOS): Promise<StatusData> {
  const now = runtime.now();
  const source = rollupMinuteSource(runtime);
  const report = await buildSloReport(runtime.db.primary, slos, source, new Date(now));
  const recent = await source(new Date(now - STATUS_SERIES_SPAN_MS), new Date(now));
  const groups = [...new Set(slos.map((slo) => slo.group))].map((name): StatusGroup => {
    const ofGroup = slos.filter((slo) => slo.group === name);
    return {
      name,
      slos: report.slos
        .filter((slo) => slo.group === name)
        .map((slo) => ({
          name: slo.name,
          group: slo.group,
          kind: slo.sli.kind,
          objective: slo.objective,
          window: windowText(slo.windowMs),
          sli: slo.total === 0 ? null : slo.sliValue,
          budgetRemaining: slo.total === 0 ? null : slo.budgetRemaining,
        })),
      series: seriesOf(ofGroup, recent, now),
    };
  });
  const incidents = report.slos.flatMap((slo) =>
    slo.firing.map(({ severity, since }) => ({
      slo: slo.name,
      severity: severity as StatusIncident["severity"],
      since,
    })),
  );
  return { generatedAt: new Date(now).toISOString(), groups, incidents };
}
