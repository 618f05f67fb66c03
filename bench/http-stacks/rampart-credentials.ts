/**
 * Credentials for the authenticated bench route, minted through the code a real client goes through: a
 * signed-up account's session and access tokens, and an API key of an organization that account owns.
 */
import { signAccessToken } from "../../lib/auth/access-tokens.ts";
import { signUp } from "../../lib/auth/accounts.ts";
import { createApiKey } from "../../lib/auth/api-keys.ts";
import { createPasswordHasher } from "../../lib/auth/password-hashing.ts";
import type { ApiKeyScope } from "../../lib/core/api-key-scopes.ts";
import { createOrganization } from "../../lib/orgs/organizations.ts";
import type { Runtime } from "../../lib/runtime/runtime.ts";

export interface BenchCredentials {
  /**
   * EdDSA access tokens of one session, each with its own jti; they live ACCESS_TOKEN_TTL_SECONDS (15 minutes
   * by default), longer than a bench run.
   */
  accessTokens: string[];
  /** An API key holding `scope`. */
  apiKey: string;
}

/** The runtime's database must be migrated; each call signs up an account of its own. */
export async function mintBenchCredentials(
  runtime: Runtime,
  scope: ApiKeyScope,
  accessTokens: number,
): Promise<BenchCredentials> {
  const credentials = { email: `bench-${crypto.randomUUID()}@example.com`, password: "bench password, not a secret" };
  const { account, session, accessToken } = await signUp(runtime, createPasswordHasher(), credentials);
  const ring = await runtime.services.identity.keyRing.get();
  const subject = { userId: account.id, sessionId: session.sessionId };
  const tokens = [accessToken.token];
  while (tokens.length < accessTokens) tokens.push((await signAccessToken(ring, runtime.config.auth, subject)).token);
  const org = await createOrganization(runtime, account.id, { name: "Bench" });
  const { key } = await createApiKey(runtime, { type: "user", id: account.id }, org.id, {
    name: "bench",
    scopes: [scope],
  });
  return { accessTokens: tokens, apiKey: key };
}
