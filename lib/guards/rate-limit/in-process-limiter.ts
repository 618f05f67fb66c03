/**
 * Sliding-window limiter in process memory: the embedded default, and the fail-open fallback when
 * Redis does not answer in time. The window is approximated from the current and previous fixed windows,
 * the same estimate @upstash/ratelimit's slidingWindow makes.
 */
import type { LimitResult, WindowLimiter } from "./limit-result.ts";

interface Counter {
  window: number;
  current: number;
  previous: number;
  /** As a fallback: how much of the limit the shared store last said was used in this window. */
  seen: number;
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
    return this.admit(identifier, limit, limit, windowMs);
  }

  /**
   * The check while the shared store does not answer: at most `share` admissions a window, and no more
   * than the store's last count (see `observe`) leaves of the limit.
   */
  takeShare(identifier: string, limit: number, share: number, windowMs: number): LimitResult {
    return this.admit(identifier, limit, share, windowMs);
  }

  /** Remembers how much of `limit` the shared store said was used, for a later `takeShare`. */
  observe(identifier: string, windowMs: number, used: number): void {
    const now = this.now();
    const counter = this.counterAt(`${windowMs}:${identifier}`, Math.floor(now / windowMs), now);
    counter.seen = Math.max(counter.seen, used);
  }

  private admit(identifier: string, limit: number, share: number, windowMs: number): LimitResult {
    const now = this.now();
    const window = Math.floor(now / windowMs);
    const counter = this.counterAt(`${windowMs}:${identifier}`, window, now);
    const elapsed = (now % windowMs) / windowMs;
    const estimate = Math.floor(counter.previous * (1 - elapsed)) + counter.current;
    const room = Math.min(share, limit - counter.seen);
    const reset = (window + 1) * windowMs;
    if (estimate >= room) return { success: false, limit, remaining: 0, reset };
    counter.current++;
    return { success: true, limit, remaining: Math.max(0, room - estimate - 1), reset };
  }

  private counterAt(key: string, window: number, now: number): Counter {
    let counter = this.counters.get(key);
    if (counter === undefined) {
      counter = { window, current: 0, previous: 0, seen: 0 };
      this.counters.set(key, counter);
    } else if (counter.window !== window) {
      counter.previous = counter.window === window - 1 ? counter.current : 0;
      counter.current = 0;
      counter.seen = 0;
      counter.window = window;
    }
    if (++this.checks % SWEEP_EVERY_CHECKS === 0) this.sweep(now);
    return counter;
  }

  private sweep(now: number): void {
    for (const [key, counter] of this.counters) {
      const windowMs = Number(key.slice(0, key.indexOf(":")));
      if (counter.window < Math.floor(now / windowMs) - 1) this.counters.delete(key);
    }
  }
}
