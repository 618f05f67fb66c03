/**
 * Applies a route's rate-limit rules to a caller. Every rule is checked (a burst and a sustained one,
 * say) and the most restrictive answer is reported. In emergency mode every limit is divided.
 * When Redis fails, a rule that fails open falls back to the in-process limiter and one that fails
 * closed refuses with 503.
 */
import { AppError } from "../../errors/app-error.ts";
import type { RateLimitScope, ResolvedRateLimitRule } from "../../http/route-policy.ts";
import type { Logger } from "../../log/logger.ts";
import type { SettingsSource } from "../../settings/settings.ts";
import { InProcessLimiter } from "./in-process-limiter.ts";
import type { LimitResult, WindowLimiter } from "./limit-result.ts";

export type CallerIdentity = Partial<Record<RateLimitScope, string>> & { ip: string };

export interface RateLimitOutcome {
  allowed: boolean;
  /** The binding result: the refusing one, or the one with the fewest remaining. */
  binding: LimitResult;
  /** `RateLimit-Policy` value listing every rule, e.g. `10;w=1, 100;w=60`. */
  policy: string;
}

export interface RateLimiter {
  /** A promise only when a shared backend is asked: the in-process path answers synchronously. */
  check(routeKey: string, rules: readonly ResolvedRateLimitRule[], caller: CallerIdentity): RateLimitOutcome | undefined | Promise<RateLimitOutcome | undefined>;
}

export function createRateLimiter(options: { shared: WindowLimiter | undefined; settings: SettingsSource; logger: Logger }): RateLimiter {
  const local = new InProcessLimiter();
  const { shared, settings, logger } = options;

  const checkRule = (routeKey: string, rule: ResolvedRateLimitRule, caller: CallerIdentity, divisor: number): LimitResult | Promise<LimitResult> => {
    const limit = Math.max(1, Math.floor(rule.limit / divisor));
    // A scope the caller has no value for (e.g. "user" before sign-in) counts by address instead.
    const subject = caller[rule.scope] === undefined ? `ip:${caller.ip}` : `${rule.scope}:${caller[rule.scope]}`;
    const identifier = `${rule.acrossRoutes ? "*" : routeKey}:${rule.name}:${subject}`;
    if (shared === undefined) return local.take(identifier, limit, rule.windowMs);
    return shared.limit(identifier, limit, rule.windowMs).catch((error: unknown) => {
      if (rule.onStoreFailure === "closed") {
        logger.warn("rate limit store unavailable, refusing (fail-closed)", { rule: rule.name, route: routeKey, error });
        throw new AppError("DEPENDENCY_UNAVAILABLE", "Rate limiting is unavailable; try again shortly.", undefined, { "retry-after": "1" });
      }
      // Said out loud: while this lasts each instance counts alone, so N instances admit up to N times the limit.
      logger.warn("rate limit store unavailable, counting in-process (fail-open)", { rule: rule.name, route: routeKey, error });
      return local.take(identifier, limit, rule.windowMs);
    });
  };

  // The RateLimit-Policy value depends only on the rules and the divisor: build it once per pair.
  const policyStrings = new WeakMap<readonly ResolvedRateLimitRule[], Map<number, string>>();
  const policyFor = (rules: readonly ResolvedRateLimitRule[], divisor: number): string => {
    let byDivisor = policyStrings.get(rules);
    if (byDivisor === undefined) policyStrings.set(rules, (byDivisor = new Map()));
    let policy = byDivisor.get(divisor);
    if (policy === undefined) {
      policy = rules.map((rule) => `${Math.max(1, Math.floor(rule.limit / divisor))};w=${Math.ceil(rule.windowMs / 1000)}`).join(", ");
      byDivisor.set(divisor, policy);
    }
    return policy;
  };

  const outcomeOf = (results: readonly LimitResult[], rules: readonly ResolvedRateLimitRule[], divisor: number): RateLimitOutcome => {
    let binding = results[0] as LimitResult;
    for (const result of results) {
      if (!result.success && binding.success) binding = result;
      else if (result.success === binding.success && result.remaining < binding.remaining) binding = result;
    }
    return { allowed: binding.success, binding, policy: policyFor(rules, divisor) };
  };

  return {
    check(routeKey, rules, caller) {
      if (rules.length === 0) return undefined;
      const { emergency } = settings.current();
      const divisor = emergency.enabled ? emergency.limitDivisor : 1;
      const pending = rules.map((rule) => checkRule(routeKey, rule, caller, divisor));
      if (shared === undefined) return outcomeOf(pending as LimitResult[], rules, divisor);
      return Promise.all(pending).then((results) => outcomeOf(results, rules, divisor));
    },
  };
}

/** Writes the RateLimit-* headers (and Retry-After when refused) into `headers`, and returns it. */
export function writeRateLimitHeaders(headers: Record<string, string | number>, outcome: RateLimitOutcome, now: number = Date.now()): Record<string, string | number> {
  const resetSeconds = Math.max(0, Math.ceil((outcome.binding.reset - now) / 1000));
  headers["ratelimit-limit"] = String(outcome.binding.limit);
  headers["ratelimit-remaining"] = String(outcome.binding.remaining);
  headers["ratelimit-reset"] = String(resetSeconds);
  headers["ratelimit-policy"] = outcome.policy;
  if (!outcome.allowed) headers["retry-after"] = String(Math.max(1, resetSeconds));
  return headers;
}

export function rateLimitHeaders(outcome: RateLimitOutcome, now: number = Date.now()): Record<string, string> {
  return writeRateLimitHeaders({}, outcome, now) as Record<string, string>;
}
