/**
 * The authentication guard: reads `Authorization: Bearer …`, tells API keys from JWTs by prefix,
 * verifies either, and enforces a route's required scopes for keys. Every failure is the same 401.
 */
import { AppError } from "../errors/app-error.ts";
import type { ResolvedPolicy } from "../http/route-policy.ts";
import { createAccessTokenVerifier } from "./access-token-verifier.ts";
import type { Caller } from "./caller.ts";
import type { IdentityServices } from "./identity.ts";
import type { AuthConfig } from "../config/config.ts";

const unauthorized = () => new AppError("UNAUTHORIZED");

export function createAuthenticator(identity: IdentityServices, auth: AuthConfig) {
  const verifyAccessToken = createAccessTokenVerifier(identity.keyRing, auth);
  return async (request: Request, policy: ResolvedPolicy): Promise<Caller> => {
    const authorization = request.headers.get("authorization");
    if (authorization === null || !authorization.startsWith("Bearer ")) throw unauthorized();
    const presented = authorization.slice(7).trim();
    const { apiKeys } = identity;
    if (apiKeys?.isApiKey(presented)) {
      if (policy.access !== "user-or-key") throw unauthorized();
      const caller = await apiKeys.verify(presented);
      if (caller === undefined) throw unauthorized();
      if (!policy.scopes.every((scope) => caller.scopes.includes(scope))) {
        throw new AppError("FORBIDDEN", "This API key lacks a scope the route requires.", { required: [...policy.scopes] });
      }
      return caller;
    }
    const token = await verifyAccessToken(presented);
    if (await identity.revocations.isRevoked(token.sessionId)) throw unauthorized();
    return { kind: "user", userId: token.userId, sessionId: token.sessionId };
  };
}
