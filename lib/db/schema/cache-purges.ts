/** Tag purges that could not reach the store: replayed when it answers again, so a write's purge is never lost. */
import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const pendingCachePurges = pgTable("pending_cache_purges", {
  tag: text("tag").primaryKey(),
  // The latest failed purge of the tag: a replay deletes only rows it has covered.
  queuedAt: timestamp("queued_at", { withTimezone: true, precision: 3 }).notNull(),
});
