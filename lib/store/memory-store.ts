/** In-process store: the embedded default, and the fallback when Redis does not answer. */
import { type BudgetState, spendFrom } from "./budget.ts";
import type { BudgetOutcome, BudgetSpend, SetOptions, Store } from "./store.ts";

interface Entry {
  value: string;
  expiresAt: number;
  /** The fields of a hash (incrementFields); a plain value has none. */
  fields?: Map<string, number>;
  /** A budget (spendBudget). */
  budget?: BudgetState;
}

const NO_EXPIRY = Number.POSITIVE_INFINITY;
const SWEEP_EVERY_WRITES = 1_000;

export class MemoryStore implements Store {
  readonly kind = "memory";
  private readonly entries = new Map<string, Entry>();
  private writesSinceSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  // Expired keys are otherwise only dropped when read; sweeping on writes bounds memory without a timer.
  private noteWrite(): void {
    if (++this.writesSinceSweep < SWEEP_EVERY_WRITES) return;
    this.writesSinceSweep = 0;
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async mget(keys: readonly string[]): Promise<(string | null)[]> {
    return keys.map((key) => this.live(key)?.value ?? null);
  }

  async set(key: string, value: string, options: SetOptions = {}): Promise<boolean> {
    if (options.onlyIfAbsent && this.live(key) !== undefined) return false;
    this.entries.set(key, { value, expiresAt: options.ttlMs === undefined ? NO_EXPIRY : this.now() + options.ttlMs });
    this.noteWrite();
    return true;
  }

  async incr(key: string, ttlMs?: number): Promise<number> {
    const entry = this.live(key);
    if (entry === undefined) {
      this.entries.set(key, { value: "1", expiresAt: ttlMs === undefined ? NO_EXPIRY : this.now() + ttlMs });
      this.noteWrite();
      return 1;
    }
    const next = Number(entry.value) + 1;
    if (!Number.isInteger(next)) throw new Error(`value at ${key} is not an integer`);
    entry.value = String(next);
    return next;
  }

  incrShared(key: string): Promise<number> {
    return this.incr(key);
  }

  async expire(key: string, ttlMs: number): Promise<boolean> {
    const entry = this.live(key);
    if (entry === undefined) return false;
    entry.expiresAt = this.now() + ttlMs;
    return true;
  }

  async ttl(key: string): Promise<number> {
    const entry = this.live(key);
    if (entry === undefined) return -2;
    return entry.expiresAt === NO_EXPIRY ? -1 : entry.expiresAt - this.now();
  }

  async del(...keys: string[]): Promise<number> {
    let removed = 0;
    for (const key of keys) if (this.live(key) !== undefined && this.entries.delete(key)) removed++;
    return removed;
  }

  async incrementFields(key: string, fields: Record<string, number>, ttlMs: number): Promise<void> {
    let entry = this.live(key);
    if (entry === undefined) {
      entry = { value: "", expiresAt: 0 };
      this.entries.set(key, entry);
      this.noteWrite();
    }
    entry.expiresAt = this.now() + ttlMs;
    const hash = (entry.fields ??= new Map());
    for (const [field, by] of Object.entries(fields)) hash.set(field, (hash.get(field) ?? 0) + by);
  }

  async readFields(key: string): Promise<Record<string, number>> {
    return Object.fromEntries(this.live(key)?.fields ?? []);
  }

  async spendBudget(key: string, spend: BudgetSpend): Promise<BudgetOutcome | undefined> {
    const entry = this.live(key);
    const outcome = spendFrom(entry?.budget, spend);
    if (outcome === undefined) return undefined;
    const budget = { remaining: outcome.remaining, period: outcome.period, version: outcome.version };
    if (entry === undefined) {
      this.entries.set(key, { value: "", expiresAt: NO_EXPIRY, budget });
      this.noteWrite();
    } else entry.budget = budget;
    return outcome;
  }

  async ping(): Promise<void> {}
}
