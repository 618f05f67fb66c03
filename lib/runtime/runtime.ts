/** The dependencies every route receives: configuration, logger, database, store, lifecycle, settings and services. */
import type { Config } from "../config/config.ts";
import { withCommitGuard } from "../db/commit-guard.ts";
import type { Database } from "../db/database.ts";
import { openDatabase } from "../db/open-database.ts";
import { DEFAULT_READ_ROUTING } from "../db/read-replica.ts";
import { DEFAULT_READ_YOUR_WRITES, withReadYourWrites } from "../db/read-your-writes.ts";
import { createLogger, type Logger } from "../log/logger.ts";
import { createLiveSettings } from "../settings/live-settings.ts";
import { type SettingsSource, settingsFromConfig } from "../settings/settings.ts";
import { openStore } from "../store/open-store.ts";
import type { Store } from "../store/store.ts";
import { createServices, type Services } from "./services.ts";

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
  /** The time in epoch milliseconds API keys expire and their caches age by; tests move it instead of sleeping. */
  readonly now: () => number;
  /** Built over the parts above; a copy with other parts needs its own (deriveRuntime). */
  readonly services: Services;
}

export interface RuntimeParts {
  logger?: Logger;
  db?: Database;
  store?: Store;
  settings?: SettingsSource;
  now?: () => number;
}

/**
 * Opens what the configuration names; parts passed in (tests, dev hot reload) are used as they are.
 * Settings are shared through the store and start polling when the server or function says so.
 */
export async function openRuntime(config: Config, parts: RuntimeParts = {}): Promise<Runtime> {
  checkReadRouting(config);
  const logger = parts.logger ?? createLogger({ level: config.logLevel });
  const opened = parts.db ?? (await openDatabase(config.database, logger));
  const store = parts.store ?? (await openStore(config.store, logger));
  const now = parts.now ?? Date.now;
  const windowMs = config.database.driver === "pglite" ? undefined : config.database.readRouting.readAfterWriteMs;
  const db = withReadYourWrites(withCommitGuard(opened), store, logger, {
    now,
    ...(windowMs !== undefined && { windowMs }),
  });
  const settings =
    parts.settings ??
    createLiveSettings({ store, logger, base: settingsFromConfig(config), pollMs: config.settingsPollMs });
  return assembleRuntime({ config, logger, db, store, lifecycle: { shuttingDown: false }, settings, now });
}

/**
 * A read after the read-your-writes window must find the write on the replica: otherwise a cache refill after
 * the write's purge could keep the old answer for its whole TTL.
 */
function checkReadRouting(config: Config): void {
  if (config.database.driver === "pglite") return;
  const { maxLagMs = DEFAULT_READ_ROUTING.maxLagMs, readAfterWriteMs = DEFAULT_READ_YOUR_WRITES.windowMs } =
    config.database.readRouting;
  if (readAfterWriteMs <= maxLagMs)
    throw new Error(
      `DATABASE_READ_AFTER_WRITE_MS (${readAfterWriteMs}) must be longer than DATABASE_READ_MAX_LAG_MS (${maxLagMs})`,
    );
}

/** The parts of a runtime a copy may replace. */
export type RuntimeChanges = Partial<Omit<Runtime, "services">>;

/**
 * A copy of `runtime` with `changes` applied and services of its own, built over the new parts: a spread
 * copy would keep services that read the old database and configuration.
 */
export function deriveRuntime<R extends Runtime>(runtime: R, changes: RuntimeChanges): R {
  return assembleRuntime({ ...runtime, ...changes });
}

/** A runtime over parts already open, with its services (made on first use) built over them. */
export function assembleRuntime<R extends Omit<Runtime, "services">>(parts: R): R & Runtime {
  return { ...parts, services: createServices(parts) };
}
