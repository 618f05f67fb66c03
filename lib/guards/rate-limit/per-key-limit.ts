/**
 * An API key's own per-minute limit (per key) and its identity's limits (per identity), counted across every
 * route, appended to a route's rules.
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

const withIdentity = new WeakMap<readonly ResolvedRateLimitRule[], WeakMap<object, readonly ResolvedRateLimitRule[]>>();

/** A key's identity's limits appended to a route's rules, built once per (rules, identity rules) pair likewise. */
export function withIdentityLimits(
  rules: readonly ResolvedRateLimitRule[],
  identityRules: readonly ResolvedRateLimitRule[],
): readonly ResolvedRateLimitRule[] {
  if (identityRules.length === 0) return rules;
  let byIdentity = withIdentity.get(rules);
  if (byIdentity === undefined) withIdentity.set(rules, (byIdentity = new WeakMap()));
  let result = byIdentity.get(identityRules);
  if (result === undefined) byIdentity.set(identityRules, (result = [...rules, ...identityRules]));
  return result;
}
