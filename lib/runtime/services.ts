/**
 * Every service a runtime holds, built over that runtime's parts. Each is made on first use: a function
 * instance that never verifies a token or checks an operator opens no key ring, poll or query for it.
 */
import { createIdentityServices, type IdentityServices } from "../auth/identity.ts";
import { type OperatorCheck, openOperatorCheck } from "../auth/operators.ts";
import type { Config } from "../config/config.ts";
import type { Database } from "../db/database.ts";
import { type IpBlocker, openIpBlocker } from "../guards/ip-block.ts";
import type { Logger } from "../log/logger.ts";
import type { SettingsSource } from "../settings/settings.ts";
import type { Store } from "../store/store.ts";

export interface Services {
  /** Encryptor, signing key ring, session revocations and API key verifier. */
  readonly identity: IdentityServices;
  /** Who holds the platform operator role, with refusals remembered briefly. */
  readonly operators: OperatorCheck;
  /** Blocked client addresses, shared through the store and refreshed on the settings poll. */
  readonly ipBlocker: IpBlocker;
}

/** The parts the services are built over. */
export interface ServiceParts {
  readonly config: Config;
  readonly logger: Logger;
  readonly db: Database;
  readonly store: Store;
  readonly settings: SettingsSource;
  readonly now: () => number;
}

export function createServices(parts: ServiceParts): Services {
  let identity: IdentityServices | undefined;
  let operators: OperatorCheck | undefined;
  let ipBlocker: IpBlocker | undefined;
  return {
    get identity() {
      return (identity ??= createIdentityServices(parts));
    },
    get operators() {
      return (operators ??= openOperatorCheck(parts.db));
    },
    get ipBlocker() {
      return (ipBlocker ??= openIpBlocker(parts));
    },
  };
}
