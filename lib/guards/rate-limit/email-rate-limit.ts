/**
 * Rate limits keyed on the e-mail a request names. The guard chain runs before the body is read, so the
 * handler applies these rules itself, through a limiter built once with the route group.
 */
import { createHash } from "node:crypto";
import { requestContextOf } from "../../core/request-context.ts";
import { type RateLimitRule, resolveRateLimitRule } from "../../core/route-policy.ts";
import { AppError } from "../../errors/app-error.ts";
import { UNKNOWN_CLIENT } from "../client-ip.ts";
import { openRateLimiter, type RateLimiterParts } from "./open-rate-limiter.ts";
import { rateLimitHeaders } from "./rate-limiter.ts";

/** Counts one attempt for `email` (normalised); throws 429 RATE_LIMITED once a rule is exhausted. */
export type EmailRateLimit = (request: Request, email: string) => Promise<void>;

export function createEmailRateLimit(
  runtime: RateLimiterParts,
  routeKey: string,
  rules: readonly RateLimitRule[],
): EmailRateLimit {
  const limiter = openRateLimiter(runtime);
  const resolved = rules.map(resolveRateLimitRule);
  return async (request, email) => {
    // Counted under a digest: the store's keys should not be a list of our users' addresses.
    const subject = createHash("sha256").update(email).digest("base64url");
    const outcome = await limiter.check(routeKey, resolved, {
      ip: requestContextOf(request).clientIp ?? UNKNOWN_CLIENT,
      email: subject,
    });
    if (outcome !== undefined && !outcome.allowed)
      throw new AppError("RATE_LIMITED", undefined, undefined, rateLimitHeaders(outcome));
  };
}
