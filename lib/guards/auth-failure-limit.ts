/**
 * Guesses per client address: a refused API key (each unknown key costs a database lookup) or a wrong
 * admin token or cron secret (brute force) is counted against a budget every instance shares. Past it,
 * the address's API keys get 429 before they are looked up, and its admin and cron attempts get 429
 * unless the secret is right; each such refusal counts toward an automatic IP block like any other 429.
 * Access tokens are not counted: a refused one costs no query, and clients routinely send an expired
 * token before refreshing, which would lock out a busy NAT. Callers without a known address ("unknown")
 * are never counted, as they would all share one budget. The budget check reads memory only: an instance
 * learns that an address is over budget from its own next failure, the count itself being shared.
 * Failures are counted once a lookup has answered, so an address sending many keys at once would have
 * them all looked up before the first failure counts: the lookups of keys not yet loaded run at most
 * `maxConcurrentLookups` at a time per address on an instance, and the rest get 429 at once.
 */
import type { ApiKeyVerifier, LookupGate } from "../auth/caller.ts";
import { AppError } from "../errors/app-error.ts";
import type { Access, ResolvedRateLimitRule } from "../http/route-policy.ts";
import { networkOfClientKey } from "./ip-network.ts";
import { type RateLimiter, rateLimitHeaders } from "./rate-limit/rate-limiter.ts";

export interface AuthFailureLimitOptions {
  limit: number;
  windowMs: number;
  /** Addresses remembered as over budget; the oldest is forgotten past this. */
  maxTracked: number;
  /** Database lookups of API keys one address may have running at once on an instance. */
  maxConcurrentLookups: number;
}

export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimitOptions = { limit: 30, windowMs: 60_000, maxTracked: 10_000, maxConcurrentLookups: 16 };

/** What a failed authentication would be a guess at, or undefined when it does not count. */
export type Guess = "api-key" | "secret" | undefined;

export interface AuthFailureLimit {
  countsGuesses(request: Request, access: Access, ip: string): Guess;
  /** Throws 429 RATE_LIMITED when this address is known to be over budget. */
  assertWithinBudget(ip: string): void;
  /** Counts a failure; throws 429 RATE_LIMITED (instead of the 401) once the budget is spent. */
  recordFailure(ip: string): Promise<void>;
  /** Bounds this address's concurrent API key lookups; undefined (no bound) for an unknown address. */
  lookupGate(ip: string): LookupGate | undefined;
}

export function createAuthFailureLimit(limiter: RateLimiter, apiKeys: Pick<ApiKeyVerifier, "isApiKey">, onRefused: (ip: string) => void, options: Partial<AuthFailureLimitOptions> = {}): AuthFailureLimit {
  const { limit, windowMs, maxTracked, maxConcurrentLookups } = { ...DEFAULT_AUTH_FAILURE_LIMIT, ...options };
  const rules: readonly ResolvedRateLimitRule[] = [
    { name: "auth-failures", limit, windowMs, scope: "ip", algorithm: "sliding-window", onStoreFailure: "open", acrossRoutes: true },
  ];
  // Address → epoch ms until which it is refused without counting.
  const exhaustedUntil = new Map<string, number>();
  // Address → API key lookups running for it on this instance.
  const lookupsRunning = new Map<string, number>();

  const refuse = (ip: string, headers: Record<string, string>): never => {
    onRefused(ip);
    throw new AppError("RATE_LIMITED", "Too many failed authentications from this address; try again later.", undefined, headers);
  };

  return {
    countsGuesses(request, access, ip) {
      if (networkOfClientKey(ip) === undefined) return undefined;
      if (access === "admin" || access === "cron") return "secret";
      const authorization = request.headers.get("authorization");
      return authorization?.startsWith("Bearer ") && apiKeys.isApiKey(authorization.slice(7).trim()) ? "api-key" : undefined;
    },
    assertWithinBudget(ip) {
      const until = exhaustedUntil.get(ip);
      if (until === undefined) return;
      const now = Date.now();
      if (until <= now) {
        exhaustedUntil.delete(ip);
        return;
      }
      refuse(ip, { "retry-after": String(Math.max(1, Math.ceil((until - now) / 1000))) });
    },
    lookupGate(ip) {
      if (networkOfClientKey(ip) === undefined) return undefined;
      return {
        enter() {
          const running = lookupsRunning.get(ip) ?? 0;
          if (running >= maxConcurrentLookups) {
            onRefused(ip);
            return false;
          }
          lookupsRunning.set(ip, running + 1);
          return true;
        },
        leave() {
          const running = (lookupsRunning.get(ip) ?? 1) - 1;
          if (running <= 0) lookupsRunning.delete(ip);
          else lookupsRunning.set(ip, running);
        },
      };
    },
    async recordFailure(ip) {
      const outcome = await limiter.check("*", rules, { ip });
      if (outcome === undefined || outcome.allowed) return;
      if (exhaustedUntil.size >= maxTracked && !exhaustedUntil.has(ip)) {
        const oldest = exhaustedUntil.keys().next();
        if (!oldest.done) exhaustedUntil.delete(oldest.value);
      }
      exhaustedUntil.set(ip, outcome.binding.reset);
      refuse(ip, rateLimitHeaders(outcome));
    },
  };
}
