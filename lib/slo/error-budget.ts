/**
 * Error-budget arithmetic (Google SRE Workbook, "Alerting on SLOs"): the SLI is good / total, the budget is
 * 1 − objective, and a burn rate is the error ratio over the budget (1 spends the budget exactly in the window).
 */
import type { Slo } from "./slo-declaration.ts";
import type { EventCounts } from "./slo-events.ts";

/** Share of good events; 1 when there were none (no traffic breaks no promise). */
export function sliOf(counts: EventCounts): number {
  return counts.total === 0 ? 1 : counts.good / counts.total;
}

/** Share of the window's budget left: 1 untouched, 0 spent, negative when overspent. */
export function budgetRemaining(slo: Slo, counts: EventCounts): number {
  if (counts.total === 0) return 1;
  return 1 - (counts.total - counts.good) / (counts.total * slo.errorBudget);
}

/** How fast the budget burns: the error ratio divided by the budget; 0 without traffic. */
export function burnRate(slo: Slo, counts: EventCounts): number {
  if (counts.total === 0) return 0;
  return (counts.total - counts.good) / counts.total / slo.errorBudget;
}
