/**
 * Failed authentications per client address. Each 401 from the access guard (a bad access token, API
 * key, admin token or cron secret) is counted against a budget that every instance shares. Past it the
 * address gets 429 for the rest of the window before its credential is even looked at, so forged keys
 * with a valid checksum stop costing database queries; each such refusal counts toward an automatic
 * IP block like any other 429. `isExhausted` reads memory only: an instance learns that an address is
 * over budget from its own next failure, the count itself being shared.
 */
import { AppError } from "../errors/app-error.ts";
import type { ResolvedRateLimitRule } from "../http/route-policy.ts";
import { type RateLimiter, rateLimitHeaders } from "./rate-limit/rate-limiter.ts";

export interface AuthFailureLimitOptions {
  limit: number;
  windowMs: number;
  /** Addresses remembered as over budget; the oldest is forgotten past this. */
  maxTracked: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimitOptions = { limit: 30, windowMs: 60_000, maxTracked: 10_000 };

export interface AuthFailureLimit {
  /** Throws 429 RATE_LIMITED when this address is known to be over budget. */
  assertWithinBudget(ip: string): void;
  /** Counts a failure; throws 429 RATE_LIMITED (instead of the 401) once the budget is spent. */
  recordFailure(ip: string): Promise<void>;
}

export function createAuthFailureLimit(limiter: RateLimiter, onRefused: (ip: string) => void, options: Partial<AuthFailureLimitOptions> = {}): AuthFailureLimit {
  const { limit, windowMs, maxTracked } = { ...DEFAULT_AUTH_FAILURE_LIMIT, ...options };
  const rules: readonly ResolvedRateLimitRule[] = [
    { name: "auth-failures", limit, windowMs, scope: "ip", algorithm: "sliding-window", onStoreFailure: "open", acrossRoutes: true },
  ];
  // Address → epoch ms until which it is refused without counting.
  const exhaustedUntil = new Map<string, number>();

  const refuse = (ip: string, headers: Record<string, string>): never => {
    onRefused(ip);
    throw new AppError("RATE_LIMITED", "Too many failed authentications from this address; try again later.", undefined, headers);
  };

  return {
    assertWithinBudget(ip) {
      const until = exhaustedUntil.get(ip);
      if (until === undefined) return;
      const now = Date.now();
      if (until <= now) {
        exhaustedUntil.delete(ip);
        return;
      }
      refuse(ip, { "retry-after": String(Math.max(1, Math.ceil((until - now) / 1000))) });
    },
    async recordFailure(ip) {
      const outcome = await limiter.check("*", rules, { ip });
      if (outcome === undefined || outcome.allowed) return;
      if (exhaustedUntil.size >= maxTracked && !exhaustedUntil.has(ip)) {
        const oldest = exhaustedUntil.keys().next();
        if (!oldest.done) exhaustedUntil.delete(oldest.value);
      }
      exhaustedUntil.set(ip, outcome.binding.reset);
      refuse(ip, rateLimitHeaders(outcome));
    },
  };
}
