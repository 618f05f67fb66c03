/** The identity services of a runtime: the encryptor, the signing key ring, session revocations and API keys. */

import type { Config } from "../config/config.ts";
import { createEncryptor, type Encryptor } from "../crypto/envelope-encryption.ts";
import type { Database } from "../db/database.ts";
import type { Logger } from "../log/logger.ts";
import type { Store } from "../store/store.ts";
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

/** The parts of a runtime the identity services are built over. */
export interface IdentityParts {
  readonly config: Config;
  readonly db: Database;
  readonly store: Store;
  readonly logger: Logger;
  /** The time in epoch milliseconds API keys expire and their caches age by. */
  readonly now: () => number;
}

/** A runtime as the account, session and key functions see it; lib/runtime's Runtime is one. */
export interface IdentityRuntime extends IdentityParts {
  readonly services: { readonly identity: IdentityServices };
}

export function createIdentityServices({ config, db, store, logger, now }: IdentityParts): IdentityServices {
  const encryptor = createEncryptor(config.encryptionKeys, config.retiredEncryptionVersions);
  return {
    encryptor,
    keyRing: createKeyRingProvider(db.primary, encryptor),
    revocations: createSessionRevocations(store, (config.auth.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS) * 1000),
    apiKeys: createApiKeyVerifier({ db: db.primary, store, logger, prefix: config.auth.apiKeyPrefix }, { now }),
  };
}
