/**
 * Wraps the Redis store so that a slow or failing Redis degrades to the in-process store instead of
 * failing requests. Entering and leaving degraded mode are logged once each.
 */
import type { Logger } from "../log/logger.ts";
import type { Breaker } from "../resilience/breaker.ts";
import { MemoryStore } from "./memory-store.ts";
import type { BudgetSpend, SetOptions, Store } from "./store.ts";

export interface StoreHealth {
  degraded: boolean;
  breaker: Breaker["state"];
}

export class FallbackStore implements Store {
  readonly kind;
  private degraded = false;

  constructor(
    readonly primary: Store,
    private readonly breaker: Breaker,
    private readonly logger: Logger,
    private readonly fallback: Store = new MemoryStore(),
  ) {
    this.kind = primary.kind;
  }

  isDegraded(): boolean {
    return this.degraded;
  }

  health(): StoreHealth {
    return { degraded: this.degraded, breaker: this.breaker.state };
  }

  /** Runs another client's call on the same Redis through this store's breaker (rate limiting does). */
  throughBreaker<T>(call: () => Promise<T>): Promise<T> {
    return this.breaker.execute(call);
  }

  /** Pings Redis itself through the breaker, never the fallback: this is what readiness reports. */
  pingPrimary(): Promise<void> {
    return this.breaker
      .execute(() => this.primary.ping())
      .then(
        () => this.markRecovered(),
        (error: unknown) => {
          this.markDegraded(error);
          throw error;
        },
      );
  }

  private markDegraded(error: unknown): void {
    if (this.degraded) return;
    this.degraded = true;
    this.logger.warn("store unavailable, serving from the in-process fallback", { store: this.primary.kind, error });
  }

  private markRecovered(): void {
    if (!this.degraded) return;
    this.degraded = false;
    this.logger.info("store recovered", { store: this.primary.kind });
  }

  private async run<T>(call: (store: Store) => Promise<T>): Promise<T> {
    try {
      return await this.onPrimary(call);
    } catch {
      return call(this.fallback);
    }
  }

  get(key: string) {
    return this.run((s) => s.get(key));
  }
  mget(keys: readonly string[]) {
    return this.run((s) => s.mget(keys));
  }
  set(key: string, value: string, options?: SetOptions) {
    return this.run((s) => s.set(key, value, options));
  }
  incr(key: string, ttlMs?: number) {
    return this.run((s) => s.incr(key, ttlMs));
  }
  expire(key: string, ttlMs: number) {
    return this.run((s) => s.expire(key, ttlMs));
  }
  ttl(key: string) {
    return this.run((s) => s.ttl(key));
  }
  del(...keys: string[]) {
    return this.run((s) => s.del(...keys));
  }
  ping() {
    return this.run((s) => s.ping());
  }

  // Shared counters written to the in-process stand-in would never reach the cluster (its rollup, its tag
  // purges): these reach Redis or fail, and the caller keeps what it meant to write for the next attempt.
  incrShared(key: string) {
    return this.onPrimary((s) => s.incrShared(key));
  }
  incrementFields(key: string, fields: Record<string, number>, ttlMs: number) {
    return this.onPrimary((s) => s.incrementFields(key, fields, ttlMs));
  }
  readFields(key: string) {
    return this.onPrimary((s) => s.readFields(key));
  }
  // A budget counted in-process would admit its whole balance on every instance.
  spendBudget(key: string, spend: BudgetSpend) {
    return this.onPrimary((s) => s.spendBudget(key, spend));
  }

  private async onPrimary<T>(call: (store: Store) => Promise<T>): Promise<T> {
    try {
      const result = await this.breaker.execute(() => call(this.primary));
      this.markRecovered();
      return result;
    } catch (error) {
      this.markDegraded(error);
      throw error;
    }
  }
}
