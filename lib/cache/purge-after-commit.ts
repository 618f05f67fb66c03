/**
 * The purge a write makes once its transaction has committed (never before: a reader between the purge and the
 * commit would store the old answer under the new version). The write stands whatever the purge does: a failed
 * purge is logged, and the entries it missed live out their TTL.
 */
import type { Logger } from "../log/logger.ts";
import type { Store } from "../store/store.ts";
import { purgeTags } from "./purge-tags.ts";

/** @example const org = await db.transaction(...); await purgeAfterCommit(runtime, [orgTag(org.id)]); */
export async function purgeAfterCommit(
  runtime: { readonly store: Store; readonly logger: Logger; now(): number },
  tags: readonly string[],
): Promise<void> {
  if (tags.length === 0) return;
  try {
    await purgeTags(runtime, tags);
  } catch (error) {
    runtime.logger.warn("cache purge after a write failed", { tags, error });
  }
}

/**
 * Awaits `committed` (a transaction), then purges `tags`; resolves with the transaction's result.
 * @example return purgedAfter(runtime, [orgAuditTag(orgId)], db.transaction(async (tx) => { … }));
 */
export async function purgedAfter<T>(
  runtime: { readonly store: Store; readonly logger: Logger; now(): number },
  tags: readonly string[],
  committed: Promise<T>,
): Promise<T> {
  const result = await committed;
  await purgeAfterCommit(runtime, tags);
  return result;
}
