/** The data of GET /admin/slo: each SLO's objective, SLI over its window, budget left, burn rates and alerts. */
import { eq } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { sloAlerts } from "../db/schema/index.ts";
import { budgetRemaining, burnRate, sliOf } from "./error-budget.ts";
import { latencyByRoute, type RouteLatency } from "./latency-percentiles.ts";
import type { Slo } from "./slo-declaration.ts";
import { countEvents, type MinuteSource } from "./slo-events.ts";

/** Windows the report gives burn rates for: those of the alert rules, and a day. */
export const REPORTED_BURN_WINDOWS = {
  "5m": 300_000,
  "30m": 1_800_000,
  "1h": 3_600_000,
  "6h": 21_600_000,
  "1d": 86_400_000,
  "3d": 259_200_000,
} as const;

export interface SloReport {
  name: string;
  group: string;
  sli: Slo["sli"];
  objective: number;
  windowMs: number;
  good: number;
  total: number;
  /** good / total over the window; 1 without traffic. */
  sliValue: number;
  /** 1 untouched, 0 spent, negative overspent. */
  budgetRemaining: number;
  burnRates: Record<keyof typeof REPORTED_BURN_WINDOWS, number>;
  firing: { severity: string; since: string; dedupKey: string }[];
  /** Per route the SLO covers, over its window, interpolated within the histogram buckets. */
  latency: RouteLatency[];
}

export async function buildSloReport(
  db: Db,
  slos: readonly Slo[],
  source: MinuteSource,
  now: Date,
): Promise<{ generatedAt: string; slos: SloReport[] }> {
  const longest = Math.max(...slos.map((slo) => slo.windowMs));
  const rows = await source(new Date(now.getTime() - longest), now);
  const firing = await db.select().from(sloAlerts).where(eq(sloAlerts.state, "firing"));
  const end = now.getTime();
  return {
    generatedAt: now.toISOString(),
    slos: slos.map((slo) => {
      const counts = countEvents(slo, rows, end - slo.windowMs, end);
      const burnRates = Object.fromEntries(
        Object.entries(REPORTED_BURN_WINDOWS).map(([name, ms]) => [
          name,
          burnRate(slo, countEvents(slo, rows, end - ms, end)),
        ]),
      ) as SloReport["burnRates"];
      const covered = rows.filter((row) => slo.coversRoute(row.route) && row.start.getTime() >= end - slo.windowMs);
      return {
        name: slo.name,
        group: slo.group,
        sli: slo.sli,
        objective: slo.objective,
        windowMs: slo.windowMs,
        good: counts.good,
        total: counts.total,
        sliValue: sliOf(counts),
        budgetRemaining: budgetRemaining(slo, counts),
        burnRates,
        firing: firing
          .filter((alert) => alert.slo === slo.name)
          .map((alert) => ({ severity: alert.severity, since: alert.since.toISOString(), dedupKey: alert.dedupKey })),
        latency: latencyByRoute(covered),
      };
    }),
  };
}
