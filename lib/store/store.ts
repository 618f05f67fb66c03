/** What the lib needs of Redis: a small key-value interface with TTLs and atomic counters. */
export interface SetOptions {
  ttlMs?: number;
  /** Only set when the key does not exist (SET NX); `set` then returns whether it did. */
  onlyIfAbsent?: boolean;
}

/** One spend from a budget that may refill each period (lib/auth/usage-credits.ts): see `Store.spendBudget`. */
export interface BudgetSpend {
  /** Units to take; 0 only reads the budget. */
  cost: number;
  /** The current refill period; a budget last set in an earlier one is refilled first. */
  period: number;
  /** What a refill sets the budget to. */
  refillAmount: number;
  /** The owner's setting the caller knows of; a budget stored for an older one is not used. */
  version: number;
  /** The budget as the database has it at `version`, to start from when the store has none at that version. */
  seed?: { remaining: number; period: number };
}

export interface BudgetOutcome {
  spent: boolean;
  /** Left after this spend (or, when refused, what was left). */
  remaining: number;
  period: number;
  version: number;
}

export interface Store {
  readonly kind: "memory" | "upstash";
  get(key: string): Promise<string | null>;
  /** The values of `keys`, in their order, in one round trip (MGET); null for each key that does not exist. */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  set(key: string, value: string, options?: SetOptions): Promise<boolean>;
  /** Increments a counter; when `ttlMs` is given, a counter that did not exist expires after it. */
  incr(key: string, ttlMs?: number): Promise<number>;
  /** Increments a counter in the shared store itself, never in a stand-in: it reaches Redis or throws. */
  incrShared(key: string): Promise<number>;
  expire(key: string, ttlMs: number): Promise<boolean>;
  /** Remaining time to live in ms; -1 without expiry, -2 when the key does not exist. */
  ttl(key: string): Promise<number>;
  del(...keys: string[]): Promise<number>;
  /** Adds each integer to its field of the hash at `key` (HINCRBY), in one round trip, and sets the hash's expiry. */
  incrementFields(key: string, fields: Record<string, number>, ttlMs: number): Promise<void>;
  /** Every field of the hash at `key` (HGETALL); empty when the key does not exist. */
  readFields(key: string): Promise<Record<string, number>>;
  /**
   * Takes `cost` units from the budget at `key` when at least that many are left, in one atomic step after a due
   * refill: concurrent spends on any instance never take more than the budget holds. Undefined when the store
   * has no budget at `spend.version` and no seed was given: read the database and spend again with one.
   */
  spendBudget(key: string, spend: BudgetSpend): Promise<BudgetOutcome | undefined>;
  ping(): Promise<void>;
  /** True while answering from a stand-in for the real store (FallbackStore during an outage). */
  isDegraded?(): boolean;
}
