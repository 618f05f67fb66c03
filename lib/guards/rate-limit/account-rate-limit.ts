/**
 * A rate limit per account that refuses silently: the caller learns nothing from it. For requests that must
 * answer the same whether an account exists (a password reset), a refusal only means no e-mail is sent.
 */
import { requestContextOf } from "../../core/request-context.ts";
import { type RateLimitRule, resolveRateLimitRule } from "../../core/route-policy.ts";
import { UNKNOWN_CLIENT } from "../client-ip.ts";
import { openRateLimiter, type RateLimiterParts } from "./open-rate-limiter.ts";

/** Counts one attempt for `userId`; resolves false once a rule is exhausted. */
export type AccountRateLimit = (request: Request, userId: string) => Promise<boolean>;

export function createAccountRateLimit(
  runtime: RateLimiterParts,
  routeKey: string,
  rules: readonly RateLimitRule[],
): AccountRateLimit {
  const limiter = openRateLimiter(runtime);
  const resolved = rules.map(resolveRateLimitRule);
  return async (request, userId) => {
    const outcome = await limiter.check(routeKey, resolved, {
      ip: requestContextOf(request).clientIp ?? UNKNOWN_CLIENT,
      user: userId,
    });
    return outcome === undefined || outcome.allowed;
  };
}
