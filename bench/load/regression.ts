/**
 * The smoke check: a short baseline compared with the committed one, route by route, through each route's
 * throughput over the health route's measured in the same run. A busy machine slows both, so the ratio moves far
 * less than either; only a route several times slower than its peer fails: the floor is the committed round
 * least favourable to the route, divided by REGRESSION_FACTOR (on a 2-core machine at load 16 to 20 the
 * database-bound routes spread over 2 to 5 times between rounds, and 1-second slices read up to 3 times lower).
 */
import type { BaselineRoute } from "./scenarios.ts";
import type { RouteName } from "./target-routes.ts";

/** A route fails when its ratio to health falls under its lowest committed round divided by this. */
export const REGRESSION_FACTOR = 4;

export interface RouteComparison {
  route: RouteName;
  committed: number;
  measured: number;
  /** measured ÷ committed median: 1 is unchanged. */
  change: number;
  /** The ratio under which the route fails. */
  floor: number;
  regressed: boolean;
}

export function compareWithBaseline(
  committed: Partial<Record<RouteName, BaselineRoute>>,
  measured: Partial<Record<RouteName, BaselineRoute>>,
): RouteComparison[] {
  const comparisons: RouteComparison[] = [];
  for (const [route, now] of Object.entries(measured) as [RouteName, BaselineRoute][]) {
    const before = committed[route];
    if (route === "health" || before === undefined) continue;
    const floor = Math.min(before.rpsVsHealth, ...before.rpsVsHealthRange) / REGRESSION_FACTOR;
    comparisons.push({
      route,
      committed: before.rpsVsHealth,
      measured: now.rpsVsHealth,
      change: Math.round((now.rpsVsHealth / before.rpsVsHealth) * 100) / 100,
      floor,
      regressed: now.rpsVsHealth < floor,
    });
  }
  return comparisons;
}
