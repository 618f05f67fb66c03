/**
 * An API key's own per-minute limit, counted per key across every route, appended to a route's rules.
 * The combined list is built once per (rules, limit) pair: rule lists are cached by identity downstream.
 */
import type { ResolvedRateLimitRule } from "../../core/route-policy.ts";

export const PER_KEY_RULE: ResolvedRateLimitRule = {
  name: "api-key",
  limit: 0,
  windowMs: 60_000,
  scope: "key",
  algorithm: "sliding-window",
  onStoreFailure: "open",
  acrossRoutes: true,
};

const combined = new WeakMap<readonly ResolvedRateLimitRule[], Map<number, readonly ResolvedRateLimitRule[]>>();

export function withPerKeyLimit(
  rules: readonly ResolvedRateLimitRule[],
  limitPerMinute: number,
): readonly ResolvedRateLimitRule[] {
  let byLimit = combined.get(rules);
  if (byLimit === undefined) combined.set(rules, (byLimit = new Map()));
  let result = byLimit.get(limitPerMinute);
  if (result === undefined)
    byLimit.set(limitPerMinute, (result = [...rules, { ...PER_KEY_RULE, limit: limitPerMinute }]));
  return result;
}
