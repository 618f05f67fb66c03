/** What the verifier reads of a key's identity: its named limits as rate-limit rules, and its credit columns. */
import type { ResolvedRateLimitRule } from "../core/route-policy.ts";

export interface IdentityLimit {
  name: string;
  limit: number;
  windowMs: number;
}

/** The identity's limits as rules the rate limiter counts per identity, across every route. */
export const identityRulesOf = (limits: readonly IdentityLimit[]): ResolvedRateLimitRule[] =>
  limits.map(({ name, limit, windowMs }) => ({
    name: `identity:${name}`,
    limit,
    windowMs,
    scope: "identity",
    algorithm: "sliding-window",
    onStoreFailure: "open",
    acrossRoutes: true,
  }));

/** The identity's credit columns of a key row joined with its identity, named as on a key. */
export const identityCreditsOf = (row: {
  identityCreditsRemaining: number | null;
  identityCreditsRefillAmount: number | null;
  identityCreditsRefillInterval: "daily" | "monthly" | null;
  identityCreditsPeriod: number | null;
  identityCreditsVersion: number | null;
}) => ({
  creditsRemaining: row.identityCreditsRemaining,
  creditsRefillAmount: row.identityCreditsRefillAmount,
  creditsRefillInterval: row.identityCreditsRefillInterval,
  creditsPeriod: row.identityCreditsPeriod ?? 0,
  creditsVersion: row.identityCreditsVersion ?? 0,
});
