/**
 * Applies a route's rate-limit rules to a caller. Every rule is checked (a burst and a sustained one,
 * say) and the most restrictive answer is reported. In emergency mode every limit is divided.
 * When Redis does not answer in time, a rule that fails open counts its instance's share in-process and
 * one that fails closed refuses with 503 (README, "Rate limits", states the bounds).
 */

import type { RateLimitScope, ResolvedRateLimitRule } from "../../core/route-policy.ts";
import { AppError } from "../../errors/app-error.ts";
import type { Logger } from "../../log/logger.ts";
import { metricsRegistry } from "../../metrics/metrics-registry.ts";
import type { SeriesRecorder } from "../../metrics/recorders.ts";
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
  /**
   * A promise only when a shared backend is asked: the in-process path answers synchronously.
   * `closedWaitMs` is how long a fail-closed rule waits for the store (the request's own deadline).
   */
  check(
    routeKey: string,
    rules: readonly ResolvedRateLimitRule[],
    caller: CallerIdentity,
    closedWaitMs?: number,
  ): RateLimitOutcome | undefined | Promise<RateLimitOutcome | undefined>;
}

/** The limits every instance shares (Redis), and how long to wait for it. */
export interface SharedLimits {
  limiter: WindowLimiter;
  /** How long a fail-open rule waits before counting in-process (STORE_TIMEOUT_MS). */
  fallbackAfterMs: number;
  /** Instances sharing the limits: in-process, each admits at most this fraction of a fail-open rule's limit. */
  instances: number;
}

/** How long a fail-closed rule waits for the store when the caller names no deadline: the auth routes' default. */
export const DEFAULT_CLOSED_WAIT_MS = 5_000;

const LATE = Symbol("late");

/** The answer, or LATE once `ms` have passed; the call itself runs on (its breaker still sees how it ends). */
function answerWithin<T>(answer: Promise<T>, ms: number): Promise<T | typeof LATE> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(resolve, ms, LATE);
  });
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

const usedOf = (result: LimitResult) => result.limit - result.remaining;

export function createRateLimiter(options: {
  shared: SharedLimits | undefined;
  settings: SettingsSource;
  logger: Logger;
}): RateLimiter {
  const local = new InProcessLimiter();
  const { shared, settings, logger } = options;

  const refuse = (rule: ResolvedRateLimitRule, routeKey: string, error: unknown): never => {
    logger.warn("rate limit store unavailable, refusing (fail-closed)", { rule: rule.name, route: routeKey, error });
    throw new AppError("DEPENDENCY_UNAVAILABLE", "Rate limiting is unavailable; try again shortly.", undefined, {
      "retry-after": "1",
    });
  };

  const countInProcess = (
    rule: ResolvedRateLimitRule,
    routeKey: string,
    identifier: string,
    limit: number,
    share: number,
    error: unknown,
  ): LimitResult => {
    logger.warn("rate limit store unavailable, counting this instance's share in-process (fail-open)", {
      rule: rule.name,
      route: routeKey,
      error,
    });
    return local.takeShare(identifier, limit, share, rule.windowMs);
  };

  const checkShared = (
    limits: SharedLimits,
    routeKey: string,
    rule: ResolvedRateLimitRule,
    identifier: string,
    limit: number,
    closedWaitMs: number,
  ) => {
    const answer = limits.limiter.limit(identifier, limit, rule.windowMs);
    if (rule.onStoreFailure === "closed") {
      return answerWithin(answer, closedWaitMs).then(
        (result) => (result === LATE ? refuse(rule, routeKey, `no answer within ${closedWaitMs} ms`) : result),
        (error: unknown) => refuse(rule, routeKey, error),
      );
    }
    const share = Math.ceil(limit / limits.instances);
    return answerWithin(answer, limits.fallbackAfterMs).then(
      (result) => {
        if (result !== LATE) {
          local.observe(identifier, rule.windowMs, usedOf(result));
          return result;
        }
        // A late answer still tells this instance how far the caller has got; a failed one is the breaker's to count.
        answer.then(
          (late) => local.observe(identifier, rule.windowMs, usedOf(late)),
          () => undefined,
        );
        return countInProcess(
          rule,
          routeKey,
          identifier,
          limit,
          share,
          `no answer within ${limits.fallbackAfterMs} ms`,
        );
      },
      (error: unknown) => countInProcess(rule, routeKey, identifier, limit, share, error),
    );
  };

  const checkRule = (
    routeKey: string,
    rule: ResolvedRateLimitRule,
    caller: CallerIdentity,
    divisor: number,
    closedWaitMs: number,
  ): LimitResult | Promise<LimitResult> => {
    const limit = Math.max(1, Math.floor(rule.limit / divisor));
    // A scope the caller has no value for (e.g. "user" before sign-in) counts by address instead.
    const subject = caller[rule.scope] === undefined ? `ip:${caller.ip}` : `${rule.scope}:${caller[rule.scope]}`;
    const identifier = `${rule.acrossRoutes ? "*" : routeKey}:${rule.name}:${subject}`;
    if (shared === undefined) return local.take(identifier, limit, rule.windowMs);
    return checkShared(shared, routeKey, rule, identifier, limit, closedWaitMs);
  };

  // The RateLimit-Policy value depends only on the rules and the divisor: build it once per pair.
  const policyStrings = new WeakMap<readonly ResolvedRateLimitRule[], Map<number, string>>();
  const policyFor = (rules: readonly ResolvedRateLimitRule[], divisor: number): string => {
    let byDivisor = policyStrings.get(rules);
    if (byDivisor === undefined) policyStrings.set(rules, (byDivisor = new Map()));
    let policy = byDivisor.get(divisor);
    if (policy === undefined) {
      policy = rules
        .map((rule) => `${Math.max(1, Math.floor(rule.limit / divisor))};w=${Math.ceil(rule.windowMs / 1000)}`)
        .join(", ");
      byDivisor.set(divisor, policy);
    }
    return policy;
  };

  // Decisions per rule, [allowed, refused], resolved once per rule object.
  const decisions = new WeakMap<ResolvedRateLimitRule, readonly [SeriesRecorder, SeriesRecorder]>();
  const decisionsOf = (rule: ResolvedRateLimitRule) => {
    let pair = decisions.get(rule);
    if (pair === undefined) {
      const series = (decision: string) => metricsRegistry().series("rate_limit", { rule: rule.name, decision });
      pair = [series("allowed"), series("refused")];
      decisions.set(rule, pair);
    }
    return pair;
  };

  const outcomeOf = (
    results: readonly LimitResult[],
    rules: readonly ResolvedRateLimitRule[],
    divisor: number,
  ): RateLimitOutcome => {
    let binding = results[0] as LimitResult;
    for (let i = 0; i < results.length; i++) {
      const result = results[i] as LimitResult;
      decisionsOf(rules[i] as ResolvedRateLimitRule)[result.success ? 0 : 1].add();
      if (!result.success && binding.success) binding = result;
      else if (result.success === binding.success && result.remaining < binding.remaining) binding = result;
    }
    return { allowed: binding.success, binding, policy: policyFor(rules, divisor) };
  };

  return {
    check(routeKey, rules, caller, closedWaitMs = DEFAULT_CLOSED_WAIT_MS) {
      if (rules.length === 0) return undefined;
      const { emergency } = settings.current();
      const divisor = emergency.enabled ? emergency.limitDivisor : 1;
      const pending = rules.map((rule) => checkRule(routeKey, rule, caller, divisor, closedWaitMs));
      if (shared === undefined) return outcomeOf(pending as LimitResult[], rules, divisor);
      return Promise.all(pending).then((results) => outcomeOf(results, rules, divisor));
    },
  };
}

/** Writes the RateLimit-* headers (and Retry-After when refused) into `headers`, and returns it. */
export function writeRateLimitHeaders(
  headers: Record<string, string | number>,
  outcome: RateLimitOutcome,
  now: number = Date.now(),
): Record<string, string | number> {
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
