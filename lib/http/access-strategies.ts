/**
 * One strategy per access kind: what the guard chain asks of a route's access without branching on it.
 * Each returns the caller it admitted (none for public, cron and the ADMIN_TOKEN) or throws 401/403.
 */
import type { Authenticator } from "../auth/authenticate.ts";
import type { Caller } from "../core/caller.ts";
import type { Access, ResolvedPolicy } from "../core/route-policy.ts";
import type { AccessCheck } from "../guards/access.ts";
import type { AdminAccess } from "../guards/admin-access.ts";
import type { AuthFailureLimit, Guess } from "../guards/auth-failure-limit.ts";

/** What a strategy reads of the request being guarded. */
export interface AccessAttempt {
  readonly request: Request;
  readonly policy: ResolvedPolicy;
  readonly guess: Guess;
  readonly identity: { readonly ip: string };
}

export interface AccessStrategy {
  /** Whether a refused credential spends the address's guess budget (lib/guards/auth-failure-limit.ts). */
  readonly countsGuesses: boolean;
  /** Whether a blocked address is still let through to access: admin routes, so an operator can lift a block. */
  readonly admitsBlockedAddresses: boolean;
  callerOf(attempt: AccessAttempt): Caller | undefined | Promise<Caller | undefined>;
}

export interface AccessStrategyServices {
  cronCheck: AccessCheck;
  adminAccess: AdminAccess;
  authenticate: Authenticator;
  authFailures: Pick<AuthFailureLimit, "lookups">;
}

export function createAccessStrategies({
  cronCheck,
  adminAccess,
  authenticate,
  authFailures,
}: AccessStrategyServices): Record<Access, AccessStrategy> {
  // API key lookups are bounded per address only when the credential is one (the lookup is what costs).
  const authenticated: AccessStrategy = {
    countsGuesses: true,
    admitsBlockedAddresses: false,
    callerOf: ({ request, policy, guess, identity }) =>
      authenticate(request, policy, guess === "api-key" ? authFailures.lookups : undefined, identity.ip),
  };
  return {
    public: { countsGuesses: false, admitsBlockedAddresses: false, callerOf: () => undefined },
    admin: {
      countsGuesses: true,
      admitsBlockedAddresses: true,
      callerOf: ({ request, policy }) => adminAccess(request, policy),
    },
    cron: {
      countsGuesses: true,
      admitsBlockedAddresses: false,
      callerOf: ({ request }) => {
        cronCheck(request);
        return undefined;
      },
    },
    user: authenticated,
    "user-or-key": authenticated,
    key: authenticated,
  };
}
