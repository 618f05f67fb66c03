/**
 * Credentials for the authenticated bench route, minted through the code a real client goes through: a
 * signed-up account's session and access token, and an API key of an organization that account owns.
 */
import { signUp } from "../../lib/auth/accounts.ts";
import { createApiKey } from "../../lib/auth/api-keys.ts";
import { createPasswordHasher } from "../../lib/auth/password-hashing.ts";
import type { ApiKeyScope } from "../../lib/core/api-key-scopes.ts";
import { createOrganization } from "../../lib/orgs/organizations.ts";
import type { Runtime } from "../../lib/runtime/runtime.ts";

export interface BenchCredentials {
  /** An EdDSA access token; it lives ACCESS_TOKEN_TTL_SECONDS (15 minutes by default), longer than a bench run. */
  accessToken: string;
  /** An API key holding `scope`. */
  apiKey: string;
}

/** The runtime's database must be migrated. */
export async function mintBenchCredentials(runtime: Runtime, scope: ApiKeyScope): Promise<BenchCredentials> {
  const credentials = { email: "bench@example.com", password: "bench password, not a secret" };
  const { account, accessToken } = await signUp(runtime, createPasswordHasher(), credentials);
  const { token } = accessToken;
  const org = await createOrganization(runtime, account.id, { name: "Bench" });
  const { key } = await createApiKey(runtime, { type: "user", id: account.id }, org.id, {
    name: "bench",
    scopes: [scope],
  });
  return { accessToken: token, apiKey: key };
}
