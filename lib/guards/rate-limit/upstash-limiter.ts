/**
 * Redis-backed limiter through @upstash/ratelimit: one round trip per check, and an in-memory cache of
 * identifiers already blocked so a flood costs no Redis calls. Limiter instances are created once per
 * (limit, window) and reused. Deadlines are the caller's: the library's own timeout would answer "allowed".
 * The library is imported on the first check, so a function that limits nothing never loads it.
 */
import type { Ratelimit } from "@upstash/ratelimit";
import type { Redis } from "@upstash/redis";
import type { LimitResult, WindowLimiter } from "./limit-result.ts";

// Module scope on purpose: the blocked-identifier cache survives across requests on a warm instance.
const blockedIdentifiers = new Map<string, number>();

export interface UpstashLimiterOptions {
  redis: Redis;
  prefix: string;
  waitUntil(pending: Promise<unknown>): void;
}

export class UpstashLimiter implements WindowLimiter {
  private readonly limiters = new Map<string, Ratelimit>();

  constructor(private readonly options: UpstashLimiterOptions) {}

  private async limiterFor(limit: number, windowMs: number): Promise<Ratelimit> {
    const id = `${limit}/${windowMs}`;
    let limiter = this.limiters.get(id);
    if (limiter === undefined) {
      const { Ratelimit } = await import("@upstash/ratelimit");
      limiter = new Ratelimit({
        redis: this.options.redis,
        limiter: Ratelimit.slidingWindow(limit, `${windowMs} ms`),
        prefix: `${this.options.prefix}:${id}`,
        ephemeralCache: blockedIdentifiers,
        timeout: 0,
        analytics: false,
      });
      // Two first checks may race past the await; the first limiter stored is the one kept.
      limiter = this.limiters.get(id) ?? limiter;
      this.limiters.set(id, limiter);
    }
    return limiter;
  }

  async limit(identifier: string, limit: number, windowMs: number): Promise<LimitResult> {
    const result = await (await this.limiterFor(limit, windowMs)).limit(identifier);
    this.options.waitUntil(result.pending);
    return { success: result.success, limit: result.limit, remaining: result.remaining, reset: result.reset };
  }
}
