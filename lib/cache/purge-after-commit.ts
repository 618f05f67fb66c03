/**
 * The purge a write makes once its transaction has committed (never before: a reader between the purge and the
 * commit would store the old answer under the new version). The write stands whatever the purge does: a purge
 * that cannot reach the store is kept in PostgreSQL and replayed (lib/cache/pending-purges.ts).
 */
import type { Database } from "../db/database.ts";
import type { Logger } from "../log/logger.ts";
import type { Store } from "../store/store.ts";
import { keepPendingPurges } from "./pending-purges.ts";
import { purgeTags } from "./purge-tags.ts";

export interface PurgeRuntime {
  readonly store: Store;
  readonly db: Database;
  readonly logger: Logger;
  now(): number;
}

/** @example const org = await db.transaction(...); await purgeAfterCommit(runtime, [orgTag(org.id)]); */
export async function purgeAfterCommit(runtime: PurgeRuntime, tags: readonly string[]): Promise<void> {
  if (tags.length === 0) return;
  try {
    await purgeTags(runtime, tags);
  } catch (error) {
    runtime.logger.warn("cache purge after a write failed; kept for replay", { tags, error });
    try {
      await keepPendingPurges(runtime.db, tags, runtime.now());
    } catch (keepError) {
      runtime.logger.error("cache purge lost: the store and the database both failed", { tags, error: keepError });
    }
  }
}

/**
 * Awaits `committed` (a transaction), then purges `tags`; resolves with the transaction's result.
 * @example return purgedAfter(runtime, [orgAuditTag(orgId)], db.transaction(async (tx) => { … }));
 */
export async function purgedAfter<T>(
  runtime: PurgeRuntime,
  tags: readonly string[],
  committed: Promise<T>,
): Promise<T> {
  const result = await committed;
  await purgeAfterCommit(runtime, tags);
  return result;
}
