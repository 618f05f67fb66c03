/**
 * The guards a request passes once its route is found, in order: one list of named steps, run by the
 * `onRequest` hook in lib/http/app.ts like Hono's `compose`. A step throws an AppError to refuse; one that
 * must wait returns a promise. The README's order is tested against this list (guard-chain.test.ts).
 */
import type { UsageCredits } from "../auth/usage-credits.ts";
import { recordCallerVerification } from "../auth/verification-analytics.ts";
import type { Caller, CreditTerms } from "../core/caller.ts";
import type { RequestContext } from "../core/request-context.ts";
import type { ResolvedPolicy } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";
import { type AuthFailureLimit, type Guess, isRefusedGuess } from "../guards/auth-failure-limit.ts";
import { checkDeclaredBody } from "../guards/body-limit.ts";
import { assertNotSunset } from "../guards/deprecation.ts";
import type { HumanVerification } from "../guards/human-verification.ts";
import type { IpBlocker } from "../guards/ip-block.ts";
import type { OrgBinder } from "../guards/org-binding.ts";
import { withIdentityLimits, withPerKeyLimit } from "../guards/rate-limit/per-key-limit.ts";
import type { RateLimitRulesFor } from "../guards/rate-limit/rate-limit-overrides.ts";
import { type CallerIdentity, type RateLimiter, writeRateLimitHeaders } from "../guards/rate-limit/rate-limiter.ts";
import type { SettingsSource } from "../settings/settings.ts";
import type { AccessAttempt, AccessStrategy } from "./access-strategies.ts";
import type { RouteEntry } from "./route-table.ts";

/** What the steps use, built once per app. */
export interface GuardServices {
  resolveClientIp(request: Request, socketAddress: string | undefined): string;
  ipBlocker: IpBlocker;
  authFailures: AuthFailureLimit;
  bindOrg: OrgBinder;
  rateLimiter: RateLimiter;
  rateLimitRulesFor: RateLimitRulesFor;
  verifyHuman: HumanVerification;
  credits: UsageCredits;
  settings: SettingsSource;
  inBackground(pending: Promise<unknown>): void;
  /** Epoch milliseconds, for sunsets. */
  now(): number;
}

/** One request on its way through the steps: one object a request, read and filled in by each step. */
export interface GuardContext extends AccessAttempt {
  readonly services: GuardServices;
  readonly set: { headers: Record<string, string | number> };
  /** The path as sent, without query. */
  readonly path: string;
  readonly route: RouteEntry;
  readonly policy: ResolvedPolicy;
  /** The route's access strategy. */
  readonly access: AccessStrategy;
  /** What the pipeline, the handler and the log share about this request. */
  readonly context: RequestContext;
  /** Who the rate limits count: the address, then the user, org or key once access admits them. */
  readonly identity: CallerIdentity;
  guess: Guess;
}

export interface GuardStep {
  readonly name: string;
  run(guard: GuardContext): void | Promise<void>;
}

function admit(guard: GuardContext, caller: Caller | undefined): void {
  if (caller === undefined) return;
  const { context, identity } = guard;
  context.caller = caller;
  if (caller.kind === "user") context.userId = identity.user = caller.userId;
  else {
    context.orgId = identity.org = caller.orgId;
    identity.key = caller.keyId;
    if (caller.identity !== undefined) identity.identity = caller.identity.id;
  }
}

async function refuse(guard: GuardContext, error: unknown): Promise<never> {
  const { guess, identity, services } = guard;
  if (isRefusedGuess(guess, error)) {
    // A wrong admin token or cron secret is refused here even past the budget; the right one never is.
    if (guess === "secret") services.authFailures.assertWithinBudget(identity.ip);
    await services.authFailures.recordFailure(identity.ip);
    // Admin routes skip the block for operators, who may need to lift it; this caller is not one.
    if (guess === "role" && services.ipBlocker.isBlocked(identity.ip)) throw new AppError("IP_BLOCKED");
  }
  throw error;
}

async function bindTenant(guard: GuardContext): Promise<void> {
  const { context, identity } = guard;
  const org = await guard.services.bindOrg(guard.route, guard.path, context.caller);
  context.org = org;
  context.orgId = identity.org = org.id;
}

function countRequest(guard: GuardContext): void | Promise<void> {
  const { services, route, policy, context } = guard;
  let rules = services.rateLimitRulesFor(route.path, policy.rateLimits);
  const caller = context.caller;
  if (caller?.kind === "api_key" && caller.rateLimitPerMinute !== undefined)
    rules = withPerKeyLimit(rules, caller.rateLimitPerMinute);
  if (caller?.kind === "api_key" && caller.identity !== undefined)
    rules = withIdentityLimits(rules, caller.identity.rateLimits);
  const waitMs = services.settings.current().timeoutsMs[policy.timeout];
  const outcome = services.rateLimiter.check(route.key, rules, guard.identity, waitMs);
  if (outcome instanceof Promise) return outcome.then((settled) => enforceOutcome(guard, settled));
  enforceOutcome(guard, outcome);
}

function enforceOutcome(guard: GuardContext, outcome: Awaited<ReturnType<RateLimiter["check"]>>): void {
  if (outcome === undefined) return;
  writeRateLimitHeaders(guard.set.headers, outcome);
  if (outcome.allowed) return;
  const caller = guard.context.caller;
  if (caller?.kind === "api_key") recordCallerVerification(caller, "RATE_LIMITED");
  guard.services.inBackground(guard.services.ipBlocker.recordViolation(guard.identity.ip));
  throw new AppError("RATE_LIMITED");
}

export const USAGE_HEADERS = { remaining: "usage-remaining", reset: "usage-reset" } as const;

/**
 * Spends the route's cost from a key's usage credits: after rate limits, so a refused request spends none. A key
 * that passes is counted VALID in the verification analytics.
 */
function spendCredits(guard: GuardContext): void | Promise<void> {
  const caller = guard.context.caller;
  if (caller?.kind !== "api_key") return;
  if (caller.credits === undefined) return recordCallerVerification(caller, "VALID");
  return chargeCredits(guard, caller.credits).then(
    () => recordCallerVerification(caller, "VALID"),
    (error: unknown) => {
      if (error instanceof AppError && error.code === "USAGE_EXCEEDED")
        recordCallerVerification(caller, "USAGE_EXCEEDED");
      throw error;
    },
  );
}

async function chargeCredits(guard: GuardContext, terms: CreditTerms): Promise<void> {
  const { services, set } = guard;
  const now = services.now();
  let outcome: Awaited<ReturnType<UsageCredits["spend"]>>;
  try {
    outcome = await services.credits.spend(terms, guard.policy.cost, now);
  } catch {
    // Counting in-process would let every instance spend the whole balance: no answer, no admission.
    throw new AppError("DEPENDENCY_UNAVAILABLE", "Usage credits are unavailable; try again shortly.", undefined, {
      "retry-after": "1",
    });
  }
  if (outcome.remaining === undefined) return;
  set.headers[USAGE_HEADERS.remaining] = outcome.remaining;
  const resetSeconds = outcome.refillsAt === undefined ? undefined : Math.ceil((outcome.refillsAt - now) / 1000);
  if (resetSeconds !== undefined) set.headers[USAGE_HEADERS.reset] = resetSeconds;
  if (outcome.spent) return;
  const headers: Record<string, string> = { [USAGE_HEADERS.remaining]: String(outcome.remaining) };
  if (resetSeconds !== undefined) headers["retry-after"] = String(resetSeconds);
  throw new AppError("USAGE_EXCEEDED", undefined, { remaining: outcome.remaining }, headers);
}

/** The order every routed request is guarded in; the README lists these names. */
export const GUARD_STEPS: readonly GuardStep[] = [
  {
    // First: a retired route is gone for everyone, whoever asks and however often.
    name: "sunset",
    run: ({ services, policy }) => assertNotSunset(policy.deprecated, services.now()),
  },
  {
    name: "client address",
    run: ({ services, request, context, identity }) => {
      context.clientIp = identity.ip = services.resolveClientIp(request, context.socketAddress);
    },
  },
  {
    name: "IP block",
    run: ({ services, policy, access, identity }) => {
      // Admin routes answer only to an operator or ADMIN_TOKEN, who must be able to lift a block that covers them.
      if (policy.ipBlocks === "enforced" && !access.admitsBlockedAddresses && services.ipBlocker.isBlocked(identity.ip))
        throw new AppError("IP_BLOCKED");
    },
  },
  {
    name: "guess budget",
    run: (guard) => {
      if (!guard.access.countsGuesses) return;
      const { authFailures } = guard.services;
      guard.guess = authFailures.countsGuesses(guard.request, guard.policy.access, guard.identity.ip);
      if (guard.guess === "api-key") authFailures.assertWithinBudget(guard.identity.ip);
    },
  },
  {
    name: "access",
    run: (guard) => {
      let caller: ReturnType<AccessStrategy["callerOf"]>;
      try {
        caller = guard.access.callerOf(guard);
      } catch (error) {
        return refuse(guard, error);
      }
      if (caller instanceof Promise)
        return caller.then(
          (admitted) => admit(guard, admitted),
          (error: unknown) => refuse(guard, error),
        );
      admit(guard, caller);
    },
  },
  {
    // After access, which found the token's auth_time; a key is no interactive session, so it is not asked.
    name: "recent authentication",
    run: ({ services, policy, context }) => {
      if (policy.recentAuthMs === undefined || context.caller?.kind !== "user") return;
      const { authTime } = context.caller;
      if (authTime === undefined || services.now() - authTime * 1000 > policy.recentAuthMs)
        throw new AppError("REAUTHENTICATION_REQUIRED");
    },
  },
  {
    // After access, so the org is bound to a verified caller; before rate limits, which count per org.
    name: "tenant",
    run: (guard) => (guard.route.orgSegment === undefined ? undefined : bindTenant(guard)),
  },
  { name: "rate limits", run: countRequest },
  { name: "usage credits", run: spendCredits },
  { name: "body", run: ({ request, policy }) => checkDeclaredBody(request, policy) },
  {
    name: "deadline",
    run: ({ services, policy, context }) => context.setDeadline(services.settings.current().timeoutsMs[policy.timeout]),
  },
  {
    // Last: the only guard that calls out, so refused and rate-limited requests never reach the provider.
    name: "human verification",
    run: ({ services, request, policy, identity }) =>
      policy.humanVerification === "in-emergency" ? services.verifyHuman(request, identity.ip) : undefined,
  },
];
