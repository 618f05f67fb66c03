/**
 * The scenarios: baseline (each route alone, closed model, alternating rounds), stress (concurrency steps
 * over the mix until the knee), breaking point (open-model arrival rates until the SLO breaks) and soak.
 */
import { type LatencySummary, mergeTallies, summarise } from "./latency-summary.ts";
import { type LoadRoute, type LoadRun, type RouteMix, runClosed, runOpen } from "./load-generator.ts";
import { type ResourceSummary, type SamplerTargets, startSampler } from "./server-sampler.ts";
import type { RouteName } from "./target-routes.ts";

export interface ScenarioTarget {
  routes: Partial<Record<RouteName, LoadRoute>>;
  sampler: SamplerTargets;
}

export interface Slo {
  p99Ms: number;
  errorRate: number;
  /** The achieved rate must reach this share of the target rate. */
  achievedShare: number;
}

export const DEFAULT_SLO: Slo = { p99Ms: 300, errorRate: 0.01, achievedShare: 0.9 };

export interface Measured {
  summary: LatencySummary;
  routes: Partial<Record<RouteName, LatencySummary>>;
  resources: ResourceSummary;
}

async function measure(target: ScenarioTarget, run: () => Promise<LoadRun>): Promise<Measured> {
  const sampler = startSampler(target.sampler);
  const { tallies, seconds } = await run();
  const resources = await sampler.stop();
  const routes = Object.fromEntries([...tallies].map(([name, tally]) => [name, summarise(tally, seconds)]));
  return { summary: summarise(mergeTallies([...tallies.values()]), seconds), routes, resources };
}

const names = (target: ScenarioTarget) => Object.keys(target.routes) as RouteName[];
const mixOf = (target: ScenarioTarget): RouteMix =>
  names(target).map((name) => ({ route: target.routes[name] as LoadRoute, weight: 1 }));

const median = (values: readonly number[]) => {
  const sorted = values.toSorted((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
const range = (values: readonly number[]) => [Math.min(...values), Math.max(...values)] as const;
const rounded = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export interface BaselineRoute {
  /** Medians over the rounds, ranges beside them. */
  rps: number;
  rpsRange: readonly [number, number];
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p99Range: readonly [number, number];
  maxMs: number;
  errorRate: number;
  /** This route's throughput over the health route's, in the same round: steady when the machine is busy. */
  rpsVsHealth: number;
  rpsVsHealthRange: readonly [number, number];
  p99VsHealth: number;
  cache?: Record<string, number>;
  statuses: Record<string, number>;
  resources: ResourceSummary;
}

const WARM_UP_MS = 300;

export interface BaselineOptions {
  concurrency: number;
  sliceMs: number;
  rounds: number;
}

/** Each route alone at `concurrency` for `sliceMs`, all routes in turn, `rounds` times. */
export async function runBaseline(
  target: ScenarioTarget,
  options: BaselineOptions,
): Promise<Partial<Record<RouteName, BaselineRoute>>> {
  // Unmeasured: the first requests of each route pay for JIT, the key's first lookup and a cold cache entry.
  for (const name of names(target))
    await runClosed([{ route: target.routes[name] as LoadRoute, weight: 1 }], options.concurrency, WARM_UP_MS);
  const perRound: Record<string, Measured>[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const measured: Record<string, Measured> = {};
    for (const name of names(target)) {
      const mix = [{ route: target.routes[name] as LoadRoute, weight: 1 }];
      measured[name] = await measure(target, () => runClosed(mix, options.concurrency, options.sliceMs));
    }
    perRound.push(measured);
  }
  const result: Partial<Record<RouteName, BaselineRoute>> = {};
  for (const name of names(target)) {
    const rounds = perRound.map((round) => round[name] as Measured);
    const health = perRound.map((round) => round.health?.summary);
    const vs = (pick: (s: LatencySummary) => number) =>
      rounds.map((m, i) => pick(m.summary) / Math.max(pick(health[i] ?? m.summary), 0.001));
    const rps = rounds.map((m) => m.summary.rps);
    const p99 = rounds.map((m) => m.summary.p99Ms);
    const last = rounds.at(-1) as Measured;
    const all = mergeCounts(rounds.map((m) => m.summary.statuses));
    const cache = mergeCounts(rounds.map((m) => m.summary.cache ?? {}));
    result[name] = {
      rps: median(rps),
      rpsRange: range(rps),
      p50Ms: median(rounds.map((m) => m.summary.p50Ms)),
      p90Ms: median(rounds.map((m) => m.summary.p90Ms)),
      p99Ms: median(p99),
      p99Range: range(p99),
      maxMs: Math.max(...rounds.map((m) => m.summary.maxMs)),
      errorRate: median(rounds.map((m) => m.summary.errorRate)),
      rpsVsHealth: rounded(median(vs((s) => s.rps))),
      rpsVsHealthRange: range(vs((s) => s.rps).map((n) => rounded(n))),
      p99VsHealth: rounded(median(vs((s) => s.p99Ms)), 2),
      ...(Object.keys(cache).length === 0 ? {} : { cache }),
      statuses: all,
      resources: last.resources,
    };
  }
  return result;
}

function mergeCounts(counts: readonly Record<string, number>[]): Record<string, number> {
  const merged: Record<string, number> = {};
  for (const count of counts) for (const [key, n] of Object.entries(count)) merged[key] = (merged[key] ?? 0) + n;
  return merged;
}

export interface StressStep extends Measured {
  concurrency: number;
}

export interface StressResult {
  steps: StressStep[];
  /** The step with the most throughput before two steps in a row failed to add 10 %; undefined if none did. */
  knee?: number;
}

/** Steps that must in turn fail to beat the best throughput by 10 % before it is called the knee. */
const STEPS_PAST_KNEE = 2;

export async function runStress(
  target: ScenarioTarget,
  options: { steps: readonly number[]; stepMs: number; slo: Slo },
): Promise<StressResult> {
  const steps: StressStep[] = [];
  let best: StressStep | undefined;
  let withoutGain = 0;
  for (const concurrency of options.steps) {
    const run = () => runClosed(mixOf(target), concurrency, options.stepMs);
    const step = { concurrency, ...(await measure(target, run)) };
    steps.push(step);
    // One noisy step on a shared machine is not a knee: it takes two in a row, or errors past the SLO.
    if (best === undefined || step.summary.rps > best.summary.rps * 1.1) {
      best = step;
      withoutGain = 0;
    } else withoutGain++;
    if (step.summary.errorRate > options.slo.errorRate || withoutGain >= STEPS_PAST_KNEE)
      return { steps, knee: best.concurrency };
  }
  return { steps };
}

export interface RateStep extends Measured {
  targetRate: number;
  achievedRate: number;
  /** Which bound it broke, if any. */
  broke: ("p99" | "errors" | "achieved")[];
}

export interface BreakingPointResult {
  steps: RateStep[];
  lastPass?: RateStep;
  brokeAt?: RateStep;
}

function judge(targetRate: number, measured: Measured, slo: Slo): RateStep {
  const broke: RateStep["broke"] = [];
  if (measured.summary.p99Ms > slo.p99Ms) broke.push("p99");
  if (measured.summary.errorRate > slo.errorRate) broke.push("errors");
  if (measured.summary.rps < targetRate * slo.achievedShare) broke.push("achieved");
  return { targetRate, achievedRate: measured.summary.rps, broke, ...measured };
}

/** Open model: the rate grows by `growth` per step until a bound breaks, then is bisected `refinements` times. */
export async function runBreakingPoint(
  target: ScenarioTarget,
  options: { startRate: number; growth: number; maxRate: number; stepMs: number; refinements: number; slo: Slo },
): Promise<BreakingPointResult> {
  const steps: RateStep[] = [];
  const step = async (rate: number) => {
    const measured = judge(
      rate,
      await measure(target, () => runOpen(mixOf(target), rate, options.stepMs)),
      options.slo,
    );
    steps.push(measured);
    return measured;
  };
  let lastPass: RateStep | undefined;
  let brokeAt: RateStep | undefined;
  for (let rate = options.startRate; rate <= options.maxRate; rate = Math.round(rate * options.growth)) {
    const measured = await step(rate);
    if (measured.broke.length > 0) {
      brokeAt = measured;
      break;
    }
    lastPass = measured;
  }
  for (let i = 0; i < options.refinements && lastPass !== undefined && brokeAt !== undefined; i++) {
    const rate = Math.round((lastPass.targetRate + brokeAt.targetRate) / 2);
    if (rate === lastPass.targetRate || rate === brokeAt.targetRate) break;
    const measured = await step(rate);
    if (measured.broke.length > 0) brokeAt = measured;
    else lastPass = measured;
  }
  return { steps, ...(lastPass === undefined ? {} : { lastPass }), ...(brokeAt === undefined ? {} : { brokeAt }) };
}

export interface SoakResult {
  rate: number;
  windows: (Measured & { minute: number })[];
  /** Last window over the first: a leak shows as RSS growth, a slow-down as p99 growth. */
  p99Drift: number;
  rssDriftMb?: number;
}

export async function runSoak(
  target: ScenarioTarget,
  options: { rate: number; windowMs: number; windows: number },
): Promise<SoakResult> {
  const windows: SoakResult["windows"] = [];
  for (let i = 0; i < options.windows; i++) {
    const measured = await measure(target, () => runOpen(mixOf(target), options.rate, options.windowMs));
    windows.push({ minute: rounded(((i + 1) * options.windowMs) / 60_000, 2), ...measured });
  }
  const first = windows[0] as Measured;
  const last = windows.at(-1) as Measured;
  const rssFirst = first.resources.serverRssMb?.end;
  const rssLast = last.resources.serverRssMb?.end;
  return {
    rate: options.rate,
    windows,
    p99Drift: rounded(last.summary.p99Ms / Math.max(first.summary.p99Ms, 0.001), 2),
    ...(rssFirst === undefined || rssLast === undefined ? {} : { rssDriftMb: rssLast - rssFirst }),
  };
}
