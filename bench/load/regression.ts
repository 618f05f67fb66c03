/**
 * The smoke check: a short baseline compared with the committed one, route by route, through each route's
 * throughput over the health route's measured in the same run. A busy machine slows both alike, so only a
 * route that became several times slower than its peer fails it.
 */
import type { BaselineRoute } from "./scenarios.ts";
import type { RouteName } from "./target-routes.ts";

/** A route fails when its ratio to health falls under the committed ratio divided by this. */
export const REGRESSION_FACTOR = 3;

export interface RouteComparison {
  route: RouteName;
  committed: number;
  measured: number;
  /** measured ÷ committed: 1 is unchanged, under 1 / REGRESSION_FACTOR fails. */
  change: number;
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
    const change = Math.round((now.rpsVsHealth / before.rpsVsHealth) * 100) / 100;
    comparisons.push({
      route,
      committed: before.rpsVsHealth,
      measured: now.rpsVsHealth,
      change,
      regressed: change < 1 / REGRESSION_FACTOR,
    });
  }
  return comparisons;
}
