/**
 * A user's sessions: the live ones, and revoking them both in the database (refresh tokens stop working)
 * and in the store (access tokens stop working, within the bound documented in session-revocation.ts).
 */
import { and, desc, eq, gt, isNull } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { AuthConfig } from "../config/config.ts";
import type { Db } from "../db/database.ts";
import { sessions } from "../db/schema/index.ts";
import type { IdentityRuntime } from "./identity.ts";

export type RevocationReason = "logout" | "revoked" | "token_reused" | "password_changed" | "user_disabled";

export interface SessionSummary {
  id: string;
  device: string | null;
  ip: string | null;
  createdAt: Date;
  lastUsedAt: Date;
}

/** Sessions that can still be refreshed: not revoked, within their absolute lifetime, used within the idle one. */
export function listLiveSessions(
  db: Db,
  auth: AuthConfig,
  userId: string,
  now: Date = new Date(),
): Promise<SessionSummary[]> {
  const idleSince = new Date(now.getTime() - auth.refreshIdleTtlSeconds * 1000);
  return db
    .select({
      id: sessions.id,
      device: sessions.device,
      ip: sessions.ip,
      createdAt: sessions.createdAt,
      lastUsedAt: sessions.lastUsedAt,
    })
    .from(sessions)
    .where(
      and(
        eq(sessions.userId, userId),
        isNull(sessions.revokedAt),
        gt(sessions.expiresAt, now),
        gt(sessions.lastUsedAt, idleSince),
      ),
    )
    .orderBy(desc(sessions.lastUsedAt));
}

/**
 * Revokes the user's sessions not yet revoked (only `sessionId`, when given) inside the caller's transaction,
 * beside its audit row, and returns their ids; once it has committed, `publishRevocations` stops their access tokens.
 */
export async function revokeSessionsIn(
  tx: Db,
  target: { userId: string; sessionId?: string },
  reason: RevocationReason,
): Promise<string[]> {
  const revoked = await tx
    .update(sessions)
    .set({ revokedAt: new Date(), revokedReason: reason })
    .where(
      and(
        eq(sessions.userId, target.userId),
        target.sessionId === undefined ? undefined : eq(sessions.id, target.sessionId),
        isNull(sessions.revokedAt),
      ),
    )
    .returning({ id: sessions.id });
  return revoked.map((session) => session.id);
}

/** Tells every instance, through the store, that these committed revocations hold for access tokens too. */
export async function publishRevocations(runtime: IdentityRuntime, sessionIds: readonly string[]): Promise<void> {
  const { revocations } = runtime.services.identity;
  await Promise.all(sessionIds.map((sessionId) => revocations.revoke(sessionId)));
}

/**
 * Revokes in the database with the audit row `eventOf(revoked)` in the same transaction (none when it
 * answers undefined), then in the store.
 */
export async function revokeSessionsAudited(
  runtime: IdentityRuntime,
  target: { userId: string; sessionId?: string },
  reason: RevocationReason,
  eventOf: (revoked: string[]) => AuditEvent | undefined,
  request?: Request,
): Promise<string[]> {
  const revoked = await runtime.db.primary.transaction(async (tx) => {
    const ids = await revokeSessionsIn(tx, target, reason);
    const event = eventOf(ids);
    if (event !== undefined) await recordAuditEvent(tx, event, request);
    return ids;
  });
  await publishRevocations(runtime, revoked);
  return revoked;
}

/** A user revoking one of their own sessions; false when it is not theirs or not live (the caller answers 404). */
export async function revokeOwnSession(
  runtime: IdentityRuntime,
  caller: { userId: string; sessionId: string },
  sessionId: string,
  request?: Request,
): Promise<boolean> {
  const eventOf = (revoked: string[]): AuditEvent | undefined =>
    revoked.length === 0
      ? undefined
      : {
          action: "session.revoked",
          actor: { type: "user", id: caller.userId },
          target: { type: "session", id: sessionId },
          metadata: { current: sessionId === caller.sessionId },
        };
  return (
    (await revokeSessionsAudited(runtime, { userId: caller.userId, sessionId }, "revoked", eventOf, request)).length > 0
  );
}
