/**
 * What a service level objective measures, over which routes, and how good it must be. Durations read as
 * durations ("30d"); a latency threshold must be a histogram bound, so "good" is counted exactly, never estimated.
 */
import type { Duration } from "../core/duration.ts";
import { msOf } from "../core/duration.ts";
import { LATENCY_BUCKET_BOUNDS_MS } from "../metrics/latency-buckets.ts";

export type LatencyBoundMs = (typeof LATENCY_BUCKET_BOUNDS_MS)[number];

/** Availability: requests answered without a 5xx. Latency: non-5xx answers within `thresholdMs`. */
export type SliKind = { kind: "availability" } | { kind: "latency"; thresholdMs: LatencyBoundMs };

export interface SloDeclaration {
  /** Stable name: alerts, dedup keys and the report are keyed by it. */
  readonly name: string;
  /** The route group (a file in functions/) whose routes it covers. */
  readonly group: string;
  /** Route templates as the router names them; a trailing `*` covers every template with that prefix. */
  readonly routes: readonly string[];
  readonly sli: SliKind;
  /** Share of good events, e.g. 0.999. */
  readonly objective: number;
  /** @default "30d" */
  readonly window?: Duration;
  /** Fewer events than this in an alert's long window never alert (one error at night is not an outage). @default 50 */
  readonly minEvents?: number;
}

/** A declaration with its defaults applied and its windows in milliseconds. */
export interface Slo {
  readonly name: string;
  readonly group: string;
  readonly routes: readonly string[];
  readonly sli: SliKind;
  readonly objective: number;
  readonly minEvents: number;
  readonly windowMs: number;
  /** Errors the objective allows, as a share of events: 1 − objective. */
  readonly errorBudget: number;
  coversRoute(route: string): boolean;
}

export const DEFAULT_SLO = { window: "30d", minEvents: 50 } as const satisfies Partial<SloDeclaration>;

/** Checks a declaration and applies its defaults; throws at start-up on one that cannot be evaluated. */
export function defineSlo(declaration: SloDeclaration): Slo {
  const { objective, sli } = declaration;
  if (!(objective > 0 && objective < 1))
    throw new Error(`SLO ${declaration.name}: objective must be between 0 and 1 (exclusive), got ${objective}`);
  if (sli.kind === "latency" && !(LATENCY_BUCKET_BOUNDS_MS as readonly number[]).includes(sli.thresholdMs))
    throw new Error(
      `SLO ${declaration.name}: latency threshold must be one of ${LATENCY_BUCKET_BOUNDS_MS.join(", ")} ms`,
    );
  const exact = new Set(declaration.routes.filter((route) => !route.endsWith("*")));
  const prefixes = declaration.routes.filter((route) => route.endsWith("*")).map((route) => route.slice(0, -1));
  return {
    name: declaration.name,
    group: declaration.group,
    routes: declaration.routes,
    sli,
    objective,
    minEvents: declaration.minEvents ?? DEFAULT_SLO.minEvents,
    windowMs: msOf(declaration.window ?? DEFAULT_SLO.window),
    errorBudget: 1 - objective,
    coversRoute: (route) => exact.has(route) || prefixes.some((prefix) => route.startsWith(prefix)),
  };
}
