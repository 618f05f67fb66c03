/** Chooses the rate limiter's shared backend: Redis through a breaker of its own when there is one. */

import type { Config } from "../../config/config.ts";
import { createWaitUntil } from "../../core/wait-until.ts";
import type { Logger } from "../../log/logger.ts";
import { createBreaker } from "../../resilience/breaker.ts";
import type { SettingsSource } from "../../settings/settings.ts";
import { FallbackStore } from "../../store/fallback-store.ts";
import type { Store } from "../../store/store.ts";
import type { UpstashStore } from "../../store/upstash-store.ts";
import { createRateLimiter, type RateLimiter, type SharedLimits } from "./rate-limiter.ts";
import { UpstashLimiter } from "./upstash-limiter.ts";

export const RATE_LIMIT_PREFIX = "rampart:rl";

export const DEFAULT_RATE_LIMIT_STORE = {
  /**
   * How long one rate-limit call may take before it counts as Redis failing. Longer than STORE_TIMEOUT_MS
   * on purpose: a store that answers slowly is healthy for a fail-closed rule, which may wait for it.
   */
  answerTimeoutMs: 5_000,
  /** STORE_TIMEOUT_MS when the store is not configured from the environment (tests hand one in). */
  fallbackAfterMs: 250,
};

/** The parts of a runtime a rate limiter is built over. */
export interface RateLimiterParts {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly settings: SettingsSource;
}

const isUpstashStore = (store: Store): store is UpstashStore => store.kind === "upstash";

export function openRateLimiter({ store, config, logger, settings }: RateLimiterParts): RateLimiter {
  let shared: SharedLimits | undefined;
  // By kind, not instanceof: importing UpstashStore here would load @upstash/redis in every bundle.
  if (store instanceof FallbackStore && isUpstashStore(store.primary)) {
    // Its own client and breaker: the store's are judged on STORE_TIMEOUT_MS, which a slow Redis misses.
    const redis = store.primary.client(DEFAULT_RATE_LIMIT_STORE.answerTimeoutMs);
    const breaker = createBreaker("redis-rate-limit", logger);
    const upstash = new UpstashLimiter({ redis, prefix: RATE_LIMIT_PREFIX, waitUntil: createWaitUntil(logger) });
    shared = {
      limiter: {
        limit: (identifier, limit, windowMs) => breaker.execute(() => upstash.limit(identifier, limit, windowMs)),
      },
      fallbackAfterMs:
        config.store.driver === "upstash" ? config.store.timeoutMs : DEFAULT_RATE_LIMIT_STORE.fallbackAfterMs,
      instances: config.rateLimitInstances,
    };
  }
  return createRateLimiter({ shared, settings, logger });
}

const limiterOfRuntime = new WeakMap<RateLimiterParts, RateLimiter>();

/**
 * The runtime's one rate limiter: the guard chain's, which a handler counting the same callers (the verify
 * endpoint) must share, or the in-process store would keep two counts of one key.
 */
export function rateLimiterOf(parts: RateLimiterParts): RateLimiter {
  let limiter = limiterOfRuntime.get(parts);
  if (limiter === undefined) limiterOfRuntime.set(parts, (limiter = openRateLimiter(parts)));
  return limiter;
}
