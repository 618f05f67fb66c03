/** The identity services of a runtime, created once per runtime on first use. */

import { processWide } from "../core/process-wide.ts";
import { createEncryptor, type Encryptor } from "../crypto/envelope-encryption.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { CLOCK_SKEW_SECONDS } from "./access-tokens.ts";
import { type ApiKeyService, createApiKeyVerifier } from "./api-key-verifier.ts";
import { createKeyRingProvider, type KeyRingProvider } from "./key-ring-provider.ts";
import { createSessionRevocations, type SessionRevocations } from "./session-revocation.ts";

export interface IdentityServices {
  encryptor: Encryptor;
  keyRing: KeyRingProvider;
  revocations: SessionRevocations;
  apiKeys: ApiKeyService;
}

const services = processWide("identity-services", () => new WeakMap<Runtime, IdentityServices>());

export function identityOf(runtime: Runtime): IdentityServices {
  let identity = services.get(runtime);
  if (identity === undefined) {
    const { config, db, store, logger } = runtime;
    const encryptor = createEncryptor(config.encryptionKeys, config.retiredEncryptionVersions);
    identity = {
      encryptor,
      keyRing: createKeyRingProvider(db.primary, encryptor),
      revocations: createSessionRevocations(store, (config.auth.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS) * 1000),
      apiKeys: createApiKeyVerifier({ db: db.primary, store, logger, prefix: config.auth.apiKeyPrefix }),
    };
    services.set(runtime, identity);
  }
  return identity;
}
