/**
 * Usage credits: a count a key (or the identity it belongs to) spends per verification, refilled daily or
 * monthly. The store holds the live count, spent and refilled in one atomic step (`Store.spendBudget`), so every
 * instance sees one balance; the database seeds it and is written behind it, at most once per owner per
 * `writeBehindMs` on each instance and always with the latest count, so a restart of Redis loses at most that
 * interval's spending.
 */
import { and, eq, gt, lt, or } from "drizzle-orm";
import type { CreditTerms, RefillInterval } from "../core/caller.ts";
import { createWaitUntil } from "../core/wait-until.ts";
import type { Db } from "../db/database.ts";
import { apiKeys, keyIdentities } from "../db/schema/index.ts";
import type { Logger } from "../log/logger.ts";
import type { BudgetOutcome, Store } from "../store/store.ts";

export interface UsageCreditsOptions {
  /**
   * How long a spend waits before its owner's count is written to the database (the latest count then).
   * @default 1000
   */
  writeBehindMs: number;
}

export const DEFAULT_USAGE_CREDITS_OPTIONS: UsageCreditsOptions = { writeBehindMs: 1_000 };

export const CREDITS_PREFIX = "rampart:credits:";

export interface CreditOutcome {
  spent: boolean;
  /** Undefined when the owner's credits were removed since the caller was loaded: it spends nothing. */
  remaining: number | undefined;
  /** Epoch ms of the next refill, when the credits refill. */
  refillsAt: number | undefined;
}

export interface UsageCredits {
  /** Takes `cost` credits when that many are left (refilling first when a period has passed). */
  spend(terms: CreditTerms, cost: number, now: number): Promise<CreditOutcome>;
  /** Writes every pending count now and resolves when the writes have finished (tests, shutdown). */
  settled(): Promise<void>;
}

const DAY_MS = 86_400_000;

/** The refill period `at` falls in: days or calendar months (UTC) since the epoch. */
export function periodOf(interval: RefillInterval, at: number): number {
  if (interval === "daily") return Math.floor(at / DAY_MS);
  const date = new Date(at);
  return date.getUTCFullYear() * 12 + date.getUTCMonth();
}

/** Epoch ms at which the period after `period` starts. */
export function nextPeriodStart(interval: RefillInterval, period: number): number {
  if (interval === "daily") return (period + 1) * DAY_MS;
  return Date.UTC(Math.floor((period + 1) / 12), (period + 1) % 12, 1);
}

type CreditColumns = Pick<
  typeof apiKeys.$inferSelect,
  "creditsRemaining" | "creditsRefillAmount" | "creditsRefillInterval" | "creditsPeriod" | "creditsVersion"
>;

/** The row's usage credits; undefined when it has no limit. */
export function creditTermsOf(owner: CreditTerms["owner"], row: CreditColumns): CreditTerms | undefined {
  if (row.creditsRemaining === null) return undefined;
  const { creditsRefillAmount: amount, creditsRefillInterval: interval } = row;
  return {
    owner,
    remaining: row.creditsRemaining,
    period: row.creditsPeriod,
    version: row.creditsVersion,
    refill: amount === null || interval === null ? undefined : { amount, interval },
  };
}

const tableOf = (owner: CreditTerms["owner"]) => (owner.kind === "key" ? apiKeys : keyIdentities);

export const creditsKeyOf = (owner: CreditTerms["owner"]) => `${CREDITS_PREFIX}${owner.kind}:${owner.id}`;

/** The period a count set now belongs to: the current one when the credits refill, 0 otherwise. */
export const seedPeriodOf = (interval: RefillInterval | null | undefined, now: number) =>
  interval == null ? 0 : periodOf(interval, now);

/** Whether `next` is a later state of a budget than `held`: a newer setting, a later period or fewer left. */
const supersedes = (next: BudgetOutcome, held: BudgetOutcome) =>
  next.version !== held.version
    ? next.version > held.version
    : next.period !== held.period
      ? next.period > held.period
      : next.remaining < held.remaining;

export function createUsageCredits(
  deps: { db: Db; store: Store; logger: Logger },
  options: Partial<UsageCreditsOptions> = {},
): UsageCredits {
  const { writeBehindMs } = { ...DEFAULT_USAGE_CREDITS_OPTIONS, ...options };
  const { db, store } = deps;
  const waitUntil = createWaitUntil(deps.logger);
  const pending = new Map<string, { owner: CreditTerms["owner"]; outcome: BudgetOutcome }>();
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const inFlight = new Set<Promise<unknown>>();

  // Only a later period, or a lower count in the same one, replaces the row's: writes from several instances
  // may land in any order. A newer owner's setting (version) is never overwritten.
  const write = ({ kind, id }: CreditTerms["owner"], { remaining, period, version }: BudgetOutcome) => {
    const table = tableOf({ kind, id });
    return db
      .update(table)
      .set({ creditsRemaining: remaining, creditsPeriod: period })
      .where(
        and(
          eq(table.id, id),
          eq(table.creditsVersion, version),
          or(
            lt(table.creditsPeriod, period),
            and(eq(table.creditsPeriod, period), gt(table.creditsRemaining, remaining)),
          ),
        ),
      )
      .then(() => undefined);
  };

  const flush = (key: string) => {
    const timer = timers.get(key);
    if (timer !== undefined) clearTimeout(timer);
    timers.delete(key);
    const entry = pending.get(key);
    if (entry === undefined) return;
    pending.delete(key);
    const written = write(entry.owner, entry.outcome);
    inFlight.add(written);
    const forget = () => inFlight.delete(written);
    written.then(forget, forget);
    // A failed write is logged; the next spend of this owner writes its newer count.
    waitUntil(written);
  };

  const writeBehind = (owner: CreditTerms["owner"], outcome: BudgetOutcome) => {
    const key = creditsKeyOf(owner);
    // Answers to concurrent spends arrive in any order: keep the latest count, as the write's condition does.
    const held = pending.get(key)?.outcome;
    if (held === undefined || supersedes(outcome, held)) pending.set(key, { owner, outcome });
    if (timers.has(key)) return;
    const timer = setTimeout(() => flush(key), writeBehindMs);
    timer.unref?.();
    timers.set(key, timer);
  };

  const spendOnce = (terms: CreditTerms, cost: number, now: number, seeded: boolean) =>
    store.spendBudget(creditsKeyOf(terms.owner), {
      cost,
      period: terms.refill === undefined ? terms.period : periodOf(terms.refill.interval, now),
      refillAmount: terms.refill?.amount ?? 0,
      version: terms.version,
      ...(seeded && { seed: { remaining: terms.remaining, period: terms.period } }),
    });

  // The row as it is now, not as the caller's cache has it: the count written behind, at its latest version.
  const loadTerms = async (owner: CreditTerms["owner"]): Promise<CreditTerms | undefined> => {
    const table = tableOf(owner);
    const [row] = await db
      .select({
        creditsRemaining: table.creditsRemaining,
        creditsRefillAmount: table.creditsRefillAmount,
        creditsRefillInterval: table.creditsRefillInterval,
        creditsPeriod: table.creditsPeriod,
        creditsVersion: table.creditsVersion,
      })
      .from(table)
      .where(eq(table.id, owner.id));
    return row === undefined ? undefined : creditTermsOf(owner, row);
  };

  return {
    async spend(cached, cost, now) {
      let terms = cached;
      // One round trip while the store holds the count; a first use (or a lost count) reads the row and seeds it.
      let outcome = await spendOnce(terms, cost, now, false);
      if (outcome === undefined) {
        const fresh = await loadTerms(terms.owner);
        if (fresh === undefined) return { spent: true, remaining: undefined, refillsAt: undefined };
        terms = fresh;
        outcome = await spendOnce(terms, cost, now, true);
        if (outcome === undefined) throw new Error("the store refused a seeded budget");
      }
      if (outcome.spent && cost > 0) writeBehind(terms.owner, outcome);
      const { refill } = terms;
      const refillsAt = refill === undefined ? undefined : nextPeriodStart(refill.interval, outcome.period);
      return { spent: outcome.spent, remaining: outcome.remaining, refillsAt };
    },
    async settled() {
      for (const key of [...pending.keys()]) flush(key);
      await Promise.allSettled([...inFlight]);
    },
  };
}
