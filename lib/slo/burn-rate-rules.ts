/**
 * Multi-window, multi-burn-rate alerting (Google SRE Workbook, table 5-8). A rule holds when the burn rate
 * exceeds its factor over both its long and its short window (the short one, 1/12 of the long, makes it
 * resolve soon after the burning stops) and the long window saw at least the SLO's minimum of events.
 */

import type { RouteMinute } from "../metrics/route-minute.ts";
import { burnRate } from "./error-budget.ts";
import type { Slo } from "./slo-declaration.ts";
import { countEvents } from "./slo-events.ts";

export type AlertSeverity = "page" | "ticket";

export interface BurnRateRule {
  /** Names the rule in alert details, e.g. "1h/5m". */
  readonly name: string;
  readonly severity: AlertSeverity;
  readonly longMs: number;
  readonly shortMs: number;
  readonly factor: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Budget spent when a rule fires, for a 30-day window: 2 %, 5 % and 10 %. */
export const BURN_RATE_RULES: readonly BurnRateRule[] = [
  { name: "1h/5m", severity: "page", longMs: HOUR, shortMs: 5 * MINUTE, factor: 14.4 },
  { name: "6h/30m", severity: "page", longMs: 6 * HOUR, shortMs: 30 * MINUTE, factor: 6 },
  { name: "3d/6h", severity: "ticket", longMs: 72 * HOUR, shortMs: 6 * HOUR, factor: 1 },
];

/** The longest window any rule reads: how far back an evaluation needs rows. */
export const LONGEST_RULE_WINDOW_MS = Math.max(...BURN_RATE_RULES.map((rule) => rule.longMs));

export interface RuleReading {
  rule: string;
  burnLong: number;
  burnShort: number;
  eventsLong: number;
  holds: boolean;
}

/** Burn rates of `rule` for `slo` over the windows ending at `now` (exclusive), and whether it holds. */
export function readRule(slo: Slo, rule: BurnRateRule, rows: readonly RouteMinute[], now: number): RuleReading {
  const long = countEvents(slo, rows, now - rule.longMs, now);
  const short = countEvents(slo, rows, now - rule.shortMs, now);
  const burnLong = burnRate(slo, long);
  const burnShort = burnRate(slo, short);
  const holds = long.total >= slo.minEvents && burnLong > rule.factor && burnShort > rule.factor;
  return { rule: rule.name, burnLong, burnShort, eventsLong: long.total, holds };
}
