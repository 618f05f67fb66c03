/** A load-test report as markdown: the run record, then one table per scenario and the bottleneck. */
import type { Bottleneck } from "./bottleneck.ts";
import type { LatencySummary } from "./latency-summary.ts";
import type { RunInfo } from "./run-report.ts";
import type { BaselineRoute, BreakingPointResult, Measured, SoakResult, StressResult } from "./scenarios.ts";
import { ROUTE_LABELS, type RouteName } from "./target-routes.ts";

export interface LoadReport {
  run: RunInfo;
  scenario: string;
  settings: Record<string, unknown>;
  baseline?: Partial<Record<RouteName, BaselineRoute>>;
  stress?: StressResult;
  breakingPoint?: BreakingPointResult;
  soak?: SoakResult;
  bottleneck?: Bottleneck;
  /** Baseline: what held each route back while it alone was under load. */
  routeBottlenecks?: Partial<Record<RouteName, Bottleneck["resource"]>>;
  skippedRoutes: RouteName[];
  loadAverageAtEnd: number;
}

const pct = (share: number) => `${Math.round(share * 10_000) / 100}%`;
const resources = (m: Pick<Measured, "resources">) => {
  const r = m.resources;
  const parts = [
    r.serverCpuPct === undefined ? "server CPU ?" : `server CPU ${r.serverCpuPct.mean}% (max ${r.serverCpuPct.max}%)`,
    r.serverRssMb === undefined ? "" : `RSS ${r.serverRssMb.max} MB`,
    `machine ${r.machineCpuPct.mean}%`,
    `generator ${r.generatorCpuPct}%`,
    r.databaseConnections === undefined
      ? ""
      : `db conns ${r.databaseConnections.max} (${r.databaseConnections.maxActive} active)`,
    r.redisCommandsPerSecond === undefined ? "" : `redis ${r.redisCommandsPerSecond}/s`,
  ];
  return parts.filter((p) => p !== "").join(", ");
};
const row = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;
const latencyCells = (s: LatencySummary) => [s.rps, s.p50Ms, s.p90Ms, s.p99Ms, s.maxMs, pct(s.errorRate)];

function baselineTable(report: LoadReport, baseline: NonNullable<LoadReport["baseline"]>): string[] {
  const lines = [
    "| route | req/s (range) | p50 ms | p90 ms | p99 ms (range) | max ms | errors | req/s ÷ health | resources " +
      "| held back by |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const [name, r] of Object.entries(baseline) as [RouteName, BaselineRoute][]) {
    lines.push(
      row([
        ROUTE_LABELS[name],
        `${r.rps} (${r.rpsRange.join("–")})`,
        r.p50Ms,
        r.p90Ms,
        `${r.p99Ms} (${r.p99Range.join("–")})`,
        r.maxMs,
        pct(r.errorRate),
        `${r.rpsVsHealth} (${r.rpsVsHealthRange.join("–")})`,
        resources(r),
        report.routeBottlenecks?.[name] ?? "?",
      ]),
    );
  }
  return lines;
}

function stressTable(stress: StressResult): string[] {
  const lines = [
    "| connections | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | resources |",
    "|---|---|---|---|---|---|---|---|",
    ...stress.steps.map((s) => row([s.concurrency, ...latencyCells(s.summary), resources(s)])),
  ];
  lines.push("", stress.knee === undefined ? "No knee within the steps." : `Knee: ${stress.knee} connections.`);
  return lines;
}

function breakingTable(result: BreakingPointResult): string[] {
  const lines = [
    "| target req/s | achieved | p50 ms | p90 ms | p99 ms | max ms | errors | broke | resources |",
    "|---|---|---|---|---|---|---|---|---|",
    ...result.steps.map((s) =>
      row([s.targetRate, s.achievedRate, ...latencyCells(s.summary).slice(1), s.broke.join(", ") || "–", resources(s)]),
    ),
  ];
  const { lastPass, brokeAt } = result;
  const broke = brokeAt === undefined ? "not reached." : `${brokeAt.targetRate} req/s (${brokeAt.broke.join(", ")}).`;
  lines.push("", `Last passing rate: ${lastPass?.targetRate ?? "none"} req/s; broke at: ${broke}`);
  return lines;
}

function soakTable(soak: SoakResult): string[] {
  return [
    `${soak.rate} req/s; p99 last ÷ first window ${soak.p99Drift}; RSS drift ${soak.rssDriftMb ?? "?"} MB.`,
    "",
    "| minute | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | resources |",
    "|---|---|---|---|---|---|---|---|",
    ...soak.windows.map((w) => row([w.minute, ...latencyCells(w.summary), resources(w)])),
  ];
}

export function renderMarkdown(report: LoadReport): string {
  const { run } = report;
  const lines = [
    `# Load test: ${report.scenario}`,
    "",
    `- tool: ${run.tool}; ${run.latencyModel}`,
    `- commit: ${run.commit}; started ${run.startedAt}`,
    `- machine: ${run.machine.cores} × ${run.machine.cpu}, ${run.machine.memoryGb} GB; load average ` +
      `${run.machine.loadAverageAtStart} at start, ${report.loadAverageAtEnd} at end`,
    `- target: ${run.target.url} (${run.target.sameMachine ? "same machine as the generator" : "another machine"}` +
      `${
        run.target.dependencies === undefined
          ? ""
          : `; ${Object.entries(run.target.dependencies)
              .map(([k, v]) => `${k} ${v}`)
              .join(", ")}`
      })`,
    `- rate limits: ${run.rateLimits.overridden ? "overridden" : "in force"}: ${run.rateLimits.how}`,
    `- settings: ${JSON.stringify(report.settings)}`,
    ...(report.skippedRoutes.length === 0
      ? []
      : [`- skipped: ${report.skippedRoutes.join(", ")} (rate limits in force)`]),
    "",
  ];
  if (report.baseline)
    lines.push("## Baseline (closed model, each route alone)", "", ...baselineTable(report, report.baseline), "");
  if (report.stress) lines.push("## Stress (closed model, the mix)", "", ...stressTable(report.stress), "");
  if (report.breakingPoint)
    lines.push("## Breaking point (open model, the mix)", "", ...breakingTable(report.breakingPoint), "");
  if (report.soak) lines.push("## Soak (open model, the mix)", "", ...soakTable(report.soak), "");
  if (report.bottleneck) {
    const { resource, detail, slowestRoute } = report.bottleneck;
    lines.push(`**Bottleneck: ${resource}.** ${detail}.`);
    if (slowestRoute) lines.push(`Slowest route: ${slowestRoute.label}, p99 ${slowestRoute.p99Ms} ms.`);
  }
  return `${lines.join("\n")}\n`;
}
