/** The dependencies every route receives: configuration, logger, database, store and lifecycle. */
import type { Config } from "../config/config.ts";
import { withCommitGuard } from "../db/commit-guard.ts";
import type { Database } from "../db/database.ts";
import { openDatabase } from "../db/open-database.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { createLiveSettings } from "../settings/live-settings.ts";
import { type SettingsSource, settingsFromConfig } from "../settings/settings.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";

export interface Lifecycle {
  shuttingDown: boolean;
}

export interface Runtime {
  readonly config: Config;
  readonly logger: Logger;
  readonly db: Database;
  readonly store: Store;
  readonly lifecycle: Lifecycle;
  readonly settings: SettingsSource;
}

export interface RuntimeParts {
  logger?: Logger;
  db?: Database;
  store?: Store;
  settings?: SettingsSource;
}

/**
 * Opens what the configuration names; parts passed in (tests, dev hot reload) are used as they are.
 * Settings are shared through the store and start polling when the server or function says so.
 */
export async function openRuntime(config: Config, parts: RuntimeParts = {}): Promise<Runtime> {
  const logger = parts.logger ?? createLogger({ level: config.logLevel });
  const db = withCommitGuard(parts.db ?? (await openDatabase(config.database, logger)));
  const store = parts.store ?? openStore(config.store, logger);
  const settings =
    parts.settings ??
    createLiveSettings({ store, logger, base: settingsFromConfig(config), pollMs: config.settingsPollMs });
  return { config, logger, db, store, lifecycle: { shuttingDown: false }, settings };
}
