/**
 * Sliding-window limiter in process memory: the embedded default, and the fail-open fallback when
 * Redis does not answer. The window is approximated from the current and previous fixed windows,
 * the same estimate @upstash/ratelimit's slidingWindow makes.
 */
import type { LimitResult, WindowLimiter } from "./limit-result.ts";

interface Counter {
  window: number;
  current: number;
  previous: number;
}

const SWEEP_EVERY_CHECKS = 10_000;

export class InProcessLimiter implements WindowLimiter {
  private readonly counters = new Map<string, Counter>();
  private checks = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async limit(identifier: string, limit: number, windowMs: number): Promise<LimitResult> {
    return this.take(identifier, limit, windowMs);
  }

  /** The same check without a promise, for the hot path when no shared backend is configured. */
  take(identifier: string, limit: number, windowMs: number): LimitResult {
    const now = this.now();
    const window = Math.floor(now / windowMs);
    const key = `${windowMs}:${identifier}`;
    let counter = this.counters.get(key);
    if (counter === undefined) {
      counter = { window, current: 0, previous: 0 };
      this.counters.set(key, counter);
    } else if (counter.window !== window) {
      counter.previous = counter.window === window - 1 ? counter.current : 0;
      counter.current = 0;
      counter.window = window;
    }
    if (++this.checks % SWEEP_EVERY_CHECKS === 0) this.sweep(now);
    const elapsed = (now % windowMs) / windowMs;
    const estimate = Math.floor(counter.previous * (1 - elapsed)) + counter.current;
    const reset = (window + 1) * windowMs;
    if (estimate >= limit) return { success: false, limit, remaining: 0, reset };
    counter.current++;
    return { success: true, limit, remaining: Math.max(0, limit - estimate - 1), reset };
  }

  private sweep(now: number): void {
    for (const [key, counter] of this.counters) {
      const windowMs = Number(key.slice(0, key.indexOf(":")));
      if (counter.window < Math.floor(now / windowMs) - 1) this.counters.delete(key);
    }
  }
}
