/** Each SLO's report as gauges beside the request counts of GET /metrics, labelled by SLO name. */
import type { GaugeFamily } from "../metrics/exposition.ts";
import type { AlertSeverity } from "./burn-rate-rules.ts";
import type { SloReport } from "./slo-report.ts";

// Both severities are always given, 0 when quiet: an absent series cannot be told from a broken scrape.
const SEVERITIES: readonly AlertSeverity[] = ["page", "ticket"];

export function sloGauges(reports: readonly SloReport[]): GaugeFamily[] {
  const each = (report: SloReport) => ({ slo: report.name });
  return [
    {
      name: "rampart_slo_objective",
      help: "The SLO's objective: the share of good events it promises over its window.",
      samples: reports.map((report) => ({ labels: each(report), value: report.objective })),
    },
    {
      name: "rampart_slo_sli",
      help: "Share of good events over the SLO's window; 1 without traffic.",
      samples: reports.map((report) => ({ labels: each(report), value: report.sliValue })),
    },
    {
      name: "rampart_slo_error_budget_remaining",
      help: "Share of the window's error budget left: 1 untouched, 0 spent, negative overspent.",
      samples: reports.map((report) => ({ labels: each(report), value: report.budgetRemaining })),
    },
    {
      name: "rampart_slo_burn_rate",
      help: "Error ratio over the error budget in the trailing window; 1 spends the budget exactly.",
      samples: reports.flatMap((report) =>
        Object.entries(report.burnRates).map(([window, value]) => ({ labels: { ...each(report), window }, value })),
      ),
    },
    {
      name: "rampart_slo_alert_firing",
      help: "1 while the SLO's burn-rate alert of this severity fires, else 0.",
      samples: reports.flatMap((report) =>
        SEVERITIES.map((severity) => ({
          labels: { ...each(report), severity },
          value: report.firing.some((alert) => alert.severity === severity) ? 1 : 0,
        })),
      ),
    },
  ];
}
