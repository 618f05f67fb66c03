/** The identity services of a runtime, created once per runtime on first use. */

import { createEncryptor, type Encryptor } from "../crypto/envelope-encryption.ts";
import { defineService } from "../runtime/services.ts";
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

export const IDENTITY = defineService("identity", ({ config, db, store, logger }): IdentityServices => {
  const encryptor = createEncryptor(config.encryptionKeys, config.retiredEncryptionVersions);
  return {
    encryptor,
    keyRing: createKeyRingProvider(db.primary, encryptor),
    revocations: createSessionRevocations(store, (config.auth.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS) * 1000),
    apiKeys: createApiKeyVerifier({ db: db.primary, store, logger, prefix: config.auth.apiKeyPrefix }),
  };
});
