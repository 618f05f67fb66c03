/**
 * Deletes sessions that can no longer be used, and refresh tokens and sign-in challenges past their lifetime,
 * in bounded batches.
 * A used token is kept until it would have expired, so replaying it until then is still caught as reuse.
 * E-mail links (verification, reset) go a day after they expire: past it they are refused anyway.
 */
import { inArray, lt, or, type SQL } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Db } from "../../db/database.ts";
import { authChallenges, emailTokens, refreshTokens, sessions } from "../../db/schema/index.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

/** Ended sessions stay listed this long, so the moments after a revocation can still be looked into. */
export const ENDED_SESSION_RETENTION_MS = 86_400_000;
const BATCH_SIZE = 1_000;

async function deleteInBatches(
  db: Db,
  table: PgTable,
  key: PgColumn,
  where: SQL,
  signal: AbortSignal,
): Promise<number> {
  let deleted = 0;
  while (!signal.aborted) {
    const batch = db.select({ key }).from(table).where(where).limit(BATCH_SIZE);
    const rows = await db.delete(table).where(inArray(key, batch)).returning({ key });
    deleted += rows.length;
    if (rows.length < BATCH_SIZE) break;
  }
  return deleted;
}

export const pruneSessions: ScheduledJob = {
  name: "prune-sessions",
  schedule: "23 * * * *",
  async run(runtime, signal) {
    const db = runtime.db.primary;
    const now = Date.now();
    const endedBefore = new Date(now - ENDED_SESSION_RETENTION_MS);
    const idleBefore = new Date(now - runtime.config.auth.refreshIdleTtlSeconds * 1000 - ENDED_SESSION_RETENTION_MS);
    const deadSessions = or(
      lt(sessions.revokedAt, endedBefore),
      lt(sessions.expiresAt, endedBefore),
      lt(sessions.lastUsedAt, idleBefore),
    ) as SQL;
    // Their tokens go with them (ON DELETE CASCADE).
    const sessionCount = await deleteInBatches(db, sessions, sessions.id, deadSessions, signal);
    const tokenCount = await deleteInBatches(
      db,
      refreshTokens,
      refreshTokens.tokenHash,
      lt(refreshTokens.expiresAt, new Date(now)),
      signal,
    );
    const linkCount = await deleteInBatches(
      db,
      emailTokens,
      emailTokens.id,
      lt(emailTokens.expiresAt, endedBefore),
      signal,
    );
    const challengeCount = await deleteInBatches(
      db,
      authChallenges,
      authChallenges.tokenHash,
      lt(authChallenges.expiresAt, new Date(now)),
      signal,
    );
    return (
      `deleted ${sessionCount} sessions, ${tokenCount} refresh tokens, ${linkCount} e-mail tokens and ` +
      `${challengeCount} challenges`
    );
  },
};
