/**
 * The object storage of a runtime, opened on first use. It is not one of the runtime's services: only the functions
 * that touch files (uploads, cron, health) carry the storage code, so the others' bundles do not grow by it.
 */
import type { Config } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import type { ObjectStorage } from "./object-storage.ts";
import { openStorage } from "./open-storage.ts";

// Keyed by the configuration, which copies of a runtime (tests, derived runtimes) share.
const opened = new WeakMap<Config, Promise<ObjectStorage | undefined>>();

/** Undefined when no storage is configured (production without a bucket). */
export function storageFor(runtime: {
  readonly config: Config;
  readonly logger: Logger;
  readonly now: () => number;
}): Promise<ObjectStorage | undefined> {
  let storage = opened.get(runtime.config);
  if (storage === undefined) {
    const { config, logger, now } = runtime;
    const secret = config.encryptionKeys[0]?.key ?? new Uint8Array(32);
    storage = openStorage(config.storage, { logger, now, secret });
    opened.set(runtime.config, storage);
  }
  return storage;
}
