/**
 * The authentication guard: reads `Authorization: Bearer …`, tells API keys from JWTs by prefix,
 * verifies either, and enforces a route's required scopes for keys. Every failed verification is the same
 * 401; a working key on a route for signed-in users only is a 403 that says so.
 */

import type { AuthConfig } from "../config/config.ts";
import type { ApiKeyCaller, Caller, LookupGate } from "../core/caller.ts";
import type { ResolvedPolicy } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";
import { createAccessTokenVerifier } from "./access-token-verifier.ts";
import type { VerifiedAccessToken } from "./access-tokens.ts";
import { bearerTokenOf } from "./bearer-token.ts";
import type { IdentityServices } from "./identity.ts";

const unauthorized = () => new AppError("UNAUTHORIZED");

/** Answers without a promise when every check it makes is warm (a cached token or key, a fresh revocation answer). */
export type Authenticator = (
  request: Request,
  policy: ResolvedPolicy,
  gate?: LookupGate,
  client?: string,
) => Caller | Promise<Caller>;

export function createAuthenticator(identity: IdentityServices, auth: AuthConfig): Authenticator {
  const verifyAccessToken = createAccessTokenVerifier(identity.keyRing, auth);
  const { apiKeys, revocations } = identity;

  const keyCaller = (caller: ApiKeyCaller | undefined, policy: ResolvedPolicy): Caller => {
    if (caller === undefined) throw unauthorized();
    if (!policy.scopes.every((scope) => caller.scopes.includes(scope))) {
      throw new AppError("FORBIDDEN", "This API key lacks a scope the route requires.", {
        required: [...policy.scopes],
      });
    }
    return caller;
  };

  // The key is checked first, so a bogus one is still the 401 that spends the address's guess budget.
  const keyOnUserRoute = (caller: ApiKeyCaller | undefined): never => {
    if (caller === undefined) throw unauthorized();
    throw new AppError(
      "FORBIDDEN",
      "This route needs a signed-in user's access token; API keys are not accepted here.",
    );
  };

  const userOnKeyRoute = (): never => {
    throw new AppError(
      "FORBIDDEN",
      "This route takes an API key; a signed-in user's access token is not accepted here.",
    );
  };

  const userCaller = (token: VerifiedAccessToken): Caller | Promise<Caller> => {
    const { userId, sessionId, authTime } = token;
    const caller: Caller =
      authTime === undefined ? { kind: "user", userId, sessionId } : { kind: "user", userId, sessionId, authTime };
    const revoked = revocations.isRevoked(token.sessionId);
    if (revoked instanceof Promise) {
      return revoked.then((isRevoked) => {
        if (isRevoked) throw unauthorized();
        return caller;
      });
    }
    if (revoked) throw unauthorized();
    return caller;
  };

  return (request, policy, gate, client) => {
    const presented = bearerTokenOf(request);
    if (presented === "") throw unauthorized();
    if (apiKeys.isApiKey(presented)) {
      if (policy.access !== "user-or-key" && policy.access !== "user" && policy.access !== "key") throw unauthorized();
      const caller = apiKeys.verify(presented, gate, client);
      if (policy.access === "user")
        return caller instanceof Promise ? caller.then(keyOnUserRoute) : keyOnUserRoute(caller);
      return caller instanceof Promise
        ? caller.then((verified) => keyCaller(verified, policy))
        : keyCaller(caller, policy);
    }
    const token = verifyAccessToken(presented);
    const caller = token instanceof Promise ? token.then(userCaller) : userCaller(token);
    // The token is verified first, so a bogus one is the same 401 as anywhere else.
    if (policy.access !== "key") return caller;
    return caller instanceof Promise ? caller.then(userOnKeyRoute) : userOnKeyRoute();
  };
}
