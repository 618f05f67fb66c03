/**
 * Purges a write could not make because the store was unreachable are kept in PostgreSQL and made again by
 * the `replay-cache-purges` job once the store answers: an entry cached before an acknowledged write is
 * never served past the first run after the store's return (a minute), where it would otherwise live its TTL.
 */
import { and, eq, lte, or, sql } from "drizzle-orm";
import type { Database } from "../db/database.ts";
import { pendingCachePurges } from "../db/schema/index.ts";
import type { Store } from "../store/store.ts";
import { purgeTags } from "./purge-tags.ts";

const REPLAY_BATCH = 500;

/** Keeps `tags` for the next replay; a tag already kept takes the later time. */
export async function keepPendingPurges(db: Database, tags: readonly string[], now: number): Promise<void> {
  const queuedAt = new Date(now);
  await db.primary
    .insert(pendingCachePurges)
    .values(tags.map((tag) => ({ tag, queuedAt })))
    .onConflictDoUpdate({ target: pendingCachePurges.tag, set: { queuedAt: sql`excluded.queued_at` } });
}

/**
 * Purges every kept tag, then forgets the rows it covered (one queued again meanwhile stays for the next run).
 * Throws, keeping them all, while the store is still unreachable.
 * @returns how many tags were purged
 */
export async function replayPendingPurges(runtime: {
  readonly db: Database;
  readonly store: Store;
  now(): number;
}): Promise<number> {
  let replayed = 0;
  for (;;) {
    const rows = await runtime.db.primary.select().from(pendingCachePurges).limit(REPLAY_BATCH);
    if (rows.length === 0) return replayed;
    await purgeTags(
      runtime,
      rows.map((row) => row.tag),
    );
    const covered = rows.map((row) =>
      and(eq(pendingCachePurges.tag, row.tag), lte(pendingCachePurges.queuedAt, row.queuedAt)),
    );
    await runtime.db.primary.delete(pendingCachePurges).where(or(...covered));
    replayed += rows.length;
    if (rows.length < REPLAY_BATCH) return replayed;
  }
}
