/**
 * The authentication guard: reads `Authorization: Bearer …`, tells API keys from JWTs by prefix,
 * verifies either, and enforces a route's required scopes for keys. Every failure is the same 401.
 */
import { AppError } from "../errors/app-error.ts";
import type { ResolvedPolicy } from "../http/route-policy.ts";
import { createAccessTokenVerifier } from "./access-token-verifier.ts";
import type { VerifiedAccessToken } from "./access-tokens.ts";
import type { ApiKeyCaller, Caller, LookupGate } from "./caller.ts";
import type { IdentityServices } from "./identity.ts";
import type { AuthConfig } from "../config/config.ts";

const unauthorized = () => new AppError("UNAUTHORIZED");

/** Answers without a promise when every check it makes is warm (a cached token or key, a fresh revocation answer). */
export type Authenticator = (request: Request, policy: ResolvedPolicy, gate?: LookupGate, client?: string) => Caller | Promise<Caller>;

export function createAuthenticator(identity: IdentityServices, auth: AuthConfig): Authenticator {
  const verifyAccessToken = createAccessTokenVerifier(identity.keyRing, auth);
  const { apiKeys, revocations } = identity;

  const keyCaller = (caller: ApiKeyCaller | undefined, policy: ResolvedPolicy): Caller => {
    if (caller === undefined) throw unauthorized();
    if (!policy.scopes.every((scope) => caller.scopes.includes(scope))) {
      throw new AppError("FORBIDDEN", "This API key lacks a scope the route requires.", { required: [...policy.scopes] });
    }
    return caller;
  };

  const userCaller = (token: VerifiedAccessToken): Caller | Promise<Caller> => {
    const caller: Caller = { kind: "user", userId: token.userId, sessionId: token.sessionId };
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
    const authorization = request.headers.get("authorization");
    if (authorization === null || !authorization.startsWith("Bearer ")) throw unauthorized();
    const presented = authorization.slice(7).trim();
    if (apiKeys.isApiKey(presented)) {
      if (policy.access !== "user-or-key") throw unauthorized();
      const caller = apiKeys.verify(presented, gate, client);
      return caller instanceof Promise ? caller.then((verified) => keyCaller(verified, policy)) : keyCaller(caller, policy);
    }
    const token = verifyAccessToken(presented);
    return token instanceof Promise ? token.then(userCaller) : userCaller(token);
  };
}
