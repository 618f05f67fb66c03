/**
 * Naming the bottleneck from what was sampled where the load stopped paying: the first resource found at its
 * limit, in the order a reader would check them, and the route that suffered most beside the health route.
 */
import type { LatencySummary } from "./latency-summary.ts";
import type { ResourceSummary } from "./server-sampler.ts";
import { ROUTE_LABELS, type RouteName } from "./target-routes.ts";

export interface BottleneckEvidence {
  summary: LatencySummary;
  routes: Partial<Record<RouteName, LatencySummary>>;
  resources: ResourceSummary;
  cores: number;
}

export interface Bottleneck {
  resource: "rate limits" | "load generator" | "server CPU" | "machine CPU" | "database connections" | "route latency";
  detail: string;
  /** The route whose p99 is the most above the health route's. */
  slowestRoute?: { name: RouteName; label: string; p99Ms: number; p99VsHealth: number };
}

/** Thresholds, in % of one core (processes) or of every core (machine). */
const BUSY = { serverCpuPct: 85, generatorCpuPct: 90, machineCpuPct: 90 } as const;

function slowestRoute(evidence: BottleneckEvidence): Bottleneck["slowestRoute"] {
  const healthP99 = Math.max(evidence.routes.health?.p99Ms ?? 0, 0.001);
  let slowest: Bottleneck["slowestRoute"];
  for (const [name, summary] of Object.entries(evidence.routes) as [RouteName, LatencySummary][]) {
    if (name === "health") continue;
    const p99VsHealth = Math.round((summary.p99Ms / healthP99) * 10) / 10;
    if (slowest === undefined || summary.p99Ms > slowest.p99Ms)
      slowest = { name, label: ROUTE_LABELS[name], p99Ms: summary.p99Ms, p99VsHealth };
  }
  return slowest;
}

export function nameBottleneck(evidence: BottleneckEvidence): Bottleneck {
  const { summary, resources } = evidence;
  const slowest = slowestRoute(evidence);
  const withRoute = (bottleneck: Omit<Bottleneck, "slowestRoute">): Bottleneck =>
    slowest === undefined ? bottleneck : { ...bottleneck, slowestRoute: slowest };
  const limited = summary.statuses["429"] ?? 0;
  if (limited > summary.requests * 0.01)
    return withRoute({
      resource: "rate limits",
      detail: `${limited} answers were 429: the limits were in force (set ADMIN_TOKEN to lift them for the run)`,
    });
  if (resources.generatorCpuPct >= BUSY.generatorCpuPct)
    return withRoute({
      resource: "load generator",
      detail: `the generator used ${resources.generatorCpuPct}% of a core: run it on another machine`,
    });
  const server = resources.serverCpuPct;
  if (server !== undefined && server.mean >= BUSY.serverCpuPct)
    return withRoute({
      resource: "server CPU",
      detail:
        `the server process used ${server.mean}% of a core (peak ${server.max}%): its JavaScript runs on one ` +
        "thread, so one instance is saturated; more instances scale it out",
    });
  // Every pooled connection busy is a queue of its own, whatever the cores do.
  const database = resources.databaseConnections;
  if (database !== undefined && database.maxActive >= Math.max(2, database.max * 0.9))
    return withRoute({
      resource: "database connections",
      detail: `${database.maxActive} of ${database.max} database connections were busy at once: the pool is the queue`,
    });
  if (resources.machineCpuPct.mean >= BUSY.machineCpuPct)
    return withRoute({
      resource: "machine CPU",
      detail:
        `all ${evidence.cores} cores were ${resources.machineCpuPct.mean}% busy while the server used ` +
        `${server?.mean ?? "?"}% of one: the generator, the database and other processes compete for them`,
    });
  return withRoute({
    resource: "route latency",
    detail:
      slowest === undefined
        ? "no resource at its limit"
        : `no resource at its limit; ${slowest.label} waits longest (p99 ${slowest.p99VsHealth}× the health route's)`,
  });
}
