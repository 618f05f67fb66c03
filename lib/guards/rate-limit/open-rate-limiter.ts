/** Chooses the rate limiter's shared backend: Redis through the store's breaker when there is one. */
import type { Runtime } from "../../runtime/runtime.ts";
import { createWaitUntil } from "../../runtime/wait-until.ts";
import { FallbackStore } from "../../store/fallback-store.ts";
import { UpstashStore } from "../../store/upstash-store.ts";
import type { WindowLimiter } from "./limit-result.ts";
import { type RateLimiter, createRateLimiter } from "./rate-limiter.ts";
import { UpstashLimiter } from "./upstash-limiter.ts";

export const RATE_LIMIT_PREFIX = "rampart:rl";

export function openRateLimiter(runtime: Runtime): RateLimiter {
  const { store, config, logger, settings } = runtime;
  let shared: WindowLimiter | undefined;
  if (store instanceof FallbackStore && store.primary instanceof UpstashStore) {
    const timeoutMs = config.store.driver === "upstash" ? config.store.timeoutMs : 250;
    const upstash = new UpstashLimiter({ redis: store.primary.redis, prefix: RATE_LIMIT_PREFIX, timeoutMs, waitUntil: createWaitUntil(logger) });
    shared = { limit: (identifier, limit, windowMs) => store.throughBreaker(() => upstash.limit(identifier, limit, windowMs)) };
  }
  return createRateLimiter({ shared, settings, logger });
}
