/** Start-up refuses a signing key that ENCRYPTION_KEYS cannot decrypt, instead of failing every sign-up. */
import { ConfigError } from "../config/config.ts";
import type { IdentityRuntime } from "./identity.ts";

/**
 * Loads the key ring (creating the first keys on an empty database) and throws a ConfigError naming
 * ENCRYPTION_KEYS, the key version and the kid when the current signing key cannot be decrypted.
 */
export async function assertSigningKeyUsable(runtime: IdentityRuntime): Promise<void> {
  const { signingKeyProblem } = await runtime.services.identity.keyRing.get();
  if (signingKeyProblem !== undefined) throw new ConfigError(`Invalid environment:\n  ${signingKeyProblem}`);
}
