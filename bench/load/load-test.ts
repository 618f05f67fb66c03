/**
 * One load-test run against a served Rampart: set up its own organization, key and webhook source, lift the
 * rate limits when given the admin token, run the scenario, name the bottleneck, and put the limits back.
 */
import { isIP } from "node:net";
import { loadavg } from "node:os";
import { type Bottleneck, type BottleneckEvidence, nameBottleneck } from "./bottleneck.ts";
import type { LatencySummary } from "./latency-summary.ts";
import type { LoadRoute } from "./load-generator.ts";
import { liftRateLimits } from "./rate-limit-override.ts";
import type { LoadReport } from "./report-markdown.ts";
import { commitOf, dependenciesOf, machineInfo, type RunInfo, toolVersion } from "./run-report.ts";
import {
  type BaselineRoute,
  DEFAULT_SLO,
  type Measured,
  runBaseline,
  runBreakingPoint,
  runSoak,
  runStress,
  type ScenarioTarget,
  type Slo,
} from "./scenarios.ts";
import { findListeningPid } from "./server-sampler.ts";
import { loadRoutes, RATE_LIMITED_ROUTES, ROUTE_NAMES, type RouteName, setUpFixture } from "./target-routes.ts";

export const SCENARIOS = ["baseline", "stress", "breaking-point", "soak", "smoke"] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface LoadTestOptions {
  url: string;
  /** The server's ADMIN_TOKEN: lifts the rate limits for the run. Without it the rate-limited routes are skipped. */
  adminToken?: string;
  /** The server's process, when not found from the port. */
  pid?: number;
  databaseUrl?: string;
  redisUrl?: string;
  /** Seconds per baseline slice, stress or rate step, or soak window. */
  seconds?: number;
  rounds?: number;
  concurrency?: number;
  slo?: Slo;
  /** Soak: the arrival rate and how many minutes. */
  rate?: number;
  minutes?: number;
  log?: (line: string) => void;
}

const DEFAULT_SECONDS: Record<Scenario, number> = { baseline: 4, stress: 5, "breaking-point": 5, soak: 60, smoke: 0.7 };
const STRESS_STEPS = [1, 2, 4, 8, 16, 32, 64, 128, 256] as const;

const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

function serverPid(url: URL, pid: number | undefined): number | undefined {
  if (pid !== undefined) return pid;
  if (!LOOPBACK.has(url.hostname) && isIP(url.hostname) === 0) return undefined;
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  return findListeningPid(port);
}

const asSummary = (r: BaselineRoute): LatencySummary => ({
  requests: 0,
  rps: r.rps,
  p50Ms: r.p50Ms,
  p90Ms: r.p90Ms,
  p99Ms: r.p99Ms,
  maxMs: r.maxMs,
  errorRate: r.errorRate,
  statuses: r.statuses,
  failures: 0,
  dropped: 0,
});

/** Each route's own bottleneck, from what was sampled while it alone was under load. */
function routeBottlenecks(baseline: Partial<Record<RouteName, BaselineRoute>>, cores: number) {
  const health = baseline.health === undefined ? {} : { health: asSummary(baseline.health) };
  const entries = Object.entries(baseline) as [RouteName, BaselineRoute][];
  return Object.fromEntries(
    entries.map(([name, r]) => {
      const evidence = { summary: asSummary(r), routes: { ...health, [name]: asSummary(r) }, resources: r.resources };
      return [name, nameBottleneck({ ...evidence, cores }).resource];
    }),
  ) as Partial<Record<RouteName, Bottleneck["resource"]>>;
}

function baselineEvidence(baseline: Partial<Record<RouteName, BaselineRoute>>): Measured {
  const entries = Object.entries(baseline) as [RouteName, BaselineRoute][];
  // The route that served the fewest requests is where the server worked hardest per request.
  const [, heaviest] = entries.reduce((a, b) => (b[1].rps < a[1].rps ? b : a));
  const statuses = Object.fromEntries(entries.flatMap(([, r]) => Object.entries(r.statuses)));
  const requests = entries.reduce((n, [, r]) => n + Object.values(r.statuses).reduce((a, b) => a + b, 0), 0);
  return {
    summary: { ...asSummary(heaviest), requests, statuses },
    routes: Object.fromEntries(entries.map(([name, r]) => [name, asSummary(r)])),
    resources: heaviest.resources,
  };
}

function evidenceOf(report: LoadReport): Measured | undefined {
  if (report.baseline) return baselineEvidence(report.baseline);
  if (report.stress) {
    const { steps, knee } = report.stress;
    return knee === undefined ? steps.at(-1) : steps[steps.findIndex((s) => s.concurrency === knee) + 1];
  }
  if (report.breakingPoint) return report.breakingPoint.brokeAt ?? report.breakingPoint.steps.at(-1);
  return report.soak?.windows.at(-1);
}

export async function runLoadTest(scenario: Scenario, options: LoadTestOptions): Promise<LoadReport> {
  const log = options.log ?? (() => undefined);
  const base = new URL(options.url);
  const live = await fetch(new URL("/health/live", base)).then(
    (r) => r.ok,
    () => false,
  );
  if (!live) throw new Error(`nothing answers ${new URL("/health/live", base).href}: start the server (bun dev)`);
  const pid = serverPid(base, options.pid);
  const seconds = options.seconds ?? DEFAULT_SECONDS[scenario];
  const slo = options.slo ?? DEFAULT_SLO;
  const fixture = await setUpFixture(base.href);
  const all = loadRoutes(base.href, fixture);
  const skippedRoutes = options.adminToken === undefined ? [...RATE_LIMITED_ROUTES] : [];
  const routes: Partial<Record<RouteName, LoadRoute>> = {};
  for (const name of ROUTE_NAMES) if (!skippedRoutes.includes(name)) routes[name] = all[name];
  const lifted = options.adminToken === undefined ? undefined : await liftRateLimits(base.href, options.adminToken);
  const run: RunInfo = {
    tool: await toolVersion(),
    commit: commitOf(),
    machine: machineInfo(),
    target: {
      url: base.href,
      sameMachine: pid !== undefined,
      ...(pid === undefined ? {} : { serverPid: pid }),
      ...((await dependenciesOf(base.href)) === undefined ? {} : { dependencies: await dependenciesOf(base.href) }),
    },
    rateLimits:
      lifted === undefined
        ? { overridden: false, how: "no ADMIN_TOKEN given: the rate-limited routes were skipped, not measured" }
        : {
            overridden: true,
            how: `rateLimitOverrides ${lifted.prefixes.join(", ")} = [] by PATCH /admin/settings, restored after`,
          },
    latencyModel:
      "closed model for baseline and stress; open model (evenly spaced arrivals, latency from the due moment) " +
      "for breaking point and soak",
    startedAt: new Date().toISOString(),
  };
  const target: ScenarioTarget = {
    routes,
    sampler: {
      ...(pid === undefined ? {} : { pid }),
      ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
      ...(options.redisUrl === undefined ? {} : { redisUrl: options.redisUrl }),
    },
  };
  const report: LoadReport = { run, scenario, settings: {}, skippedRoutes, loadAverageAtEnd: 0 };
  try {
    if (scenario === "baseline" || scenario === "smoke") {
      const settings = {
        concurrency: options.concurrency ?? 10,
        sliceMs: seconds * 1000,
        rounds: options.rounds ?? 3,
      };
      report.settings = settings;
      log(`baseline: ${Object.keys(routes).length} routes × ${settings.rounds} rounds × ${seconds} s`);
      report.baseline = await runBaseline(target, settings);
    } else if (scenario === "stress") {
      report.settings = { steps: STRESS_STEPS, stepMs: seconds * 1000, slo };
      log(`stress: connections ${STRESS_STEPS.join(", ")} until the knee, ${seconds} s each`);
      report.stress = await runStress(target, { steps: STRESS_STEPS, stepMs: seconds * 1000, slo });
    } else if (scenario === "breaking-point") {
      const settings = {
        startRate: options.rate ?? 20,
        growth: 1.5,
        maxRate: 50_000,
        stepMs: seconds * 1000,
        refinements: 2,
        slo,
      };
      report.settings = settings;
      log(`breaking point: open model from ${settings.startRate} req/s, ×1.5 a step of ${seconds} s, then bisected`);
      report.breakingPoint = await runBreakingPoint(target, settings);
    } else {
      const settings = {
        rate: options.rate ?? 50,
        windowMs: seconds * 1000,
        windows: Math.max(1, Math.round(((options.minutes ?? 10) * 60) / seconds)),
      };
      report.settings = settings;
      log(`soak: ${settings.rate} req/s for ${settings.windows} windows of ${seconds} s`);
      report.soak = await runSoak(target, settings);
    }
  } finally {
    await lifted?.restore();
  }
  report.loadAverageAtEnd = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  if (report.baseline) report.routeBottlenecks = routeBottlenecks(report.baseline, run.machine.cores);
  const evidence = evidenceOf(report);
  if (evidence !== undefined)
    report.bottleneck = nameBottleneck({ ...evidence, cores: run.machine.cores } satisfies BottleneckEvidence);
  return report;
}

export type { Bottleneck };
