/**
 * Guesses per client address: a refused API key (each unknown key costs a database lookup), a wrong
 * admin token or cron secret (brute force), or a signed-in user's call to an admin route without the
 * operator role is counted against a budget every instance shares. Past it, the address's API keys get
 * 429 before they are looked up, its admin and cron secrets get 429 unless right, and its non-operators'
 * admin calls get 429 (an operator's token still works: anyone sharing the address could keep the budget
 * spent, and refused role lookups are cached); each such refusal counts toward an automatic IP block
 * like any other 429. Refused access tokens are not counted: one costs no query, and clients (an
 * operator's console too) routinely send an expired token before refreshing, which would lock out a busy
 * NAT. Callers without a known address ("unknown") are never counted, as they would all share one budget.
 * The budget check reads memory only: an instance learns that an address is over budget from its own next
 * failure, the count itself being shared.
 * Failures are counted once a lookup has answered, so an address sending many keys at once would have
 * them all looked up before the first failure counts: the lookups of keys not yet loaded run at most
 * `maxConcurrentLookups` at a time per address on an instance, the others wait their turn and check the
 * budget again when it comes. Waiting is not a failure: many real keys behind one NAT all get through.
 */
import { bearerTokenOf } from "../auth/bearer-token.ts";
import { setBounded } from "../collections/bounded-map.ts";
import { ACCESS_TOKEN_SHAPE } from "../core/access-token-shape.ts";
import type { ApiKeyVerifier, LookupGate } from "../core/caller.ts";
import type { Access, ResolvedRateLimitRule } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";
import { networkOfClientKey } from "./ip-network.ts";
import { type RateLimiter, rateLimitHeaders } from "./rate-limit/rate-limiter.ts";

export interface AuthFailureLimitOptions {
  limit: number;
  windowMs: number;
  /** Addresses remembered as over budget; the oldest is forgotten past this. */
  maxTracked: number;
  /** Database lookups of API keys one address may have running at once on an instance. */
  maxConcurrentLookups: number;
  /** Lookups one address may have waiting for those; past this, 429 at once. */
  maxWaitingLookups: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimitOptions = {
  limit: 30,
  windowMs: 60_000,
  maxTracked: 10_000,
  maxConcurrentLookups: 16,
  maxWaitingLookups: 1_000,
};

/** What a failed authentication would be a guess at, or undefined when it does not count. */
export type Guess = "api-key" | "secret" | "role" | undefined;

/** Whether `error` is the refusal that spends budget for `guess`: 403 for a role, 401 otherwise. */
export function isRefusedGuess(guess: Guess, error: unknown): boolean {
  return (
    guess !== undefined && error instanceof AppError && error.code === (guess === "role" ? "FORBIDDEN" : "UNAUTHORIZED")
  );
}

export interface AuthFailureLimit {
  countsGuesses(request: Request, access: Access, ip: string): Guess;
  /** Throws 429 RATE_LIMITED when this address is known to be over budget. */
  assertWithinBudget(ip: string): void;
  /** Counts a failure; throws 429 RATE_LIMITED (instead of the 401) once the budget is spent. */
  recordFailure(ip: string): Promise<void>;
  /** Bounds each known address's concurrent API key lookups; an unknown address is not bounded. */
  readonly lookups: LookupGate;
}

export function createAuthFailureLimit(
  limiter: RateLimiter,
  apiKeys: Pick<ApiKeyVerifier, "isApiKey">,
  onRefused: (ip: string) => void,
  options: Partial<AuthFailureLimitOptions> = {},
): AuthFailureLimit {
  const { limit, windowMs, maxTracked, maxConcurrentLookups, maxWaitingLookups } = {
    ...DEFAULT_AUTH_FAILURE_LIMIT,
    ...options,
  };
  const rules: readonly ResolvedRateLimitRule[] = [
    {
      name: "auth-failures",
      limit,
      windowMs,
      scope: "ip",
      algorithm: "sliding-window",
      onStoreFailure: "open",
      acrossRoutes: true,
    },
  ];
  // Address → epoch ms until which it is refused without counting.
  const exhaustedUntil = new Map<string, number>();
  // Address → API key lookups running for it on this instance, and those waiting for a turn.
  const lookupsOf = new Map<string, { running: number; waiting: (() => void)[] }>();

  const refuse = (ip: string, headers: Record<string, string>): never => {
    onRefused(ip);
    throw new AppError(
      "RATE_LIMITED",
      "Too many failed authentications from this address; try again later.",
      undefined,
      headers,
    );
  };

  const assertWithinBudget = (ip: string): void => {
    const until = exhaustedUntil.get(ip);
    if (until === undefined) return;
    const now = Date.now();
    if (until <= now) {
      exhaustedUntil.delete(ip);
      return;
    }
    refuse(ip, { "retry-after": String(Math.max(1, Math.ceil((until - now) / 1000))) });
  };

  const lookups: LookupGate = {
    async acquire(ip) {
      if (networkOfClientKey(ip) === undefined) return;
      let entry = lookupsOf.get(ip);
      if (entry === undefined) lookupsOf.set(ip, (entry = { running: 0, waiting: [] }));
      if (entry.running < maxConcurrentLookups) {
        entry.running++;
        return;
      }
      if (entry.waiting.length >= maxWaitingLookups) {
        throw new AppError(
          "RATE_LIMITED",
          "Too many API keys are being checked for this address at once; try again shortly.",
          undefined,
          { "retry-after": "1" },
        );
      }
      const waiting = entry.waiting;
      await new Promise<void>((resolve) => waiting.push(resolve));
      // The turn was handed over by release(); the failures counted meanwhile may have spent the budget.
      try {
        assertWithinBudget(ip);
      } catch (error) {
        lookups.release(ip);
        throw error;
      }
    },
    release(ip) {
      const entry = lookupsOf.get(ip);
      if (entry === undefined) return;
      const next = entry.waiting.shift();
      if (next !== undefined) next();
      else if (--entry.running === 0) lookupsOf.delete(ip);
    },
  };

  return {
    lookups,
    assertWithinBudget,
    countsGuesses(request, access, ip) {
      if (networkOfClientKey(ip) === undefined) return undefined;
      if (access === "cron") return "secret";
      const presented = bearerTokenOf(request);
      if (access === "admin") return ACCESS_TOKEN_SHAPE.test(presented) ? "role" : "secret";
      return apiKeys.isApiKey(presented) ? "api-key" : undefined;
    },
    async recordFailure(ip) {
      const outcome = await limiter.check("*", rules, { ip });
      if (outcome === undefined || outcome.allowed) return;
      setBounded(exhaustedUntil, ip, outcome.binding.reset, maxTracked);
      refuse(ip, rateLimitHeaders(outcome));
    },
  };
}
