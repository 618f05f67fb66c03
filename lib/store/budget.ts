/**
 * A spend from a refilling budget, the one rule both stores follow: the in-process store runs `spendFrom`,
 * Redis runs `SPEND_BUDGET_SCRIPT` (the same steps in Lua, atomic on the server).
 *  1. No budget stored, or one older than `version`: start from the seed, or answer "none" without one.
 *  2. A budget of an earlier period than the current one is refilled: set to the refill amount.
 *  3. At least `cost` left: take it. Otherwise take nothing.
 */
import type { BudgetOutcome, BudgetSpend } from "./store.ts";

export interface BudgetState {
  remaining: number;
  period: number;
  version: number;
}

export function spendFrom(stored: BudgetState | undefined, spend: BudgetSpend): BudgetOutcome | undefined {
  let state = stored;
  if (state === undefined || state.version < spend.version) {
    if (spend.seed === undefined) return undefined;
    state = { ...spend.seed, version: spend.version };
  }
  let { remaining, period } = state;
  if (spend.period > period) {
    remaining = spend.refillAmount;
    period = spend.period;
  }
  const spent = remaining >= spend.cost;
  if (spent) remaining -= spend.cost;
  return { spent, remaining, period, version: state.version };
}

/** KEYS[1]: the budget's hash; ARGV: cost, period, refill amount, version[, seed remaining, seed period]. */
export const SPEND_BUDGET_SCRIPT = `local h = redis.call('HMGET', KEYS[1], 'r', 'p', 'v')
local r, p, v = tonumber(h[1]), tonumber(h[2]), tonumber(h[3])
if r == nil or v < tonumber(ARGV[4]) then
  if #ARGV < 6 then return {-1} end
  r, p, v = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[4])
end
if tonumber(ARGV[2]) > p then r, p = tonumber(ARGV[3]), tonumber(ARGV[2]) end
local spent = 0
if r >= tonumber(ARGV[1]) then r = r - tonumber(ARGV[1]); spent = 1 end
redis.call('HSET', KEYS[1], 'r', r, 'p', p, 'v', v)
return {spent, r, p, v}`;

export const budgetScriptArgs = ({ cost, period, refillAmount, version, seed }: BudgetSpend): string[] =>
  [cost, period, refillAmount, version, ...(seed === undefined ? [] : [seed.remaining, seed.period])].map(String);

export const budgetOutcomeOf = ([spent, remaining, period, version]: number[]): BudgetOutcome | undefined =>
  spent === -1
    ? undefined
    : { spent: spent === 1, remaining: Number(remaining), period: Number(period), version: Number(version) };
