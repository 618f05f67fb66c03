/**
 * A user's sessions: the live ones, and revoking them both in the database (refresh tokens stop working)
 * and in the store (access tokens stop working, within the bound documented in session-revocation.ts).
 */
import { and, desc, eq, gt, isNull } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { AuthConfig } from "../config/config.ts";
import type { Db } from "../db/database.ts";
import { sessions } from "../db/schema/index.ts";
import { enqueueUserWebhookMessage, type MessagesCommitted, type UserMessage } from "../outbox/webhook-outbox.ts";
import type { IdentityRuntime } from "./identity.ts";

export type RevocationReason =
  | "logout"
  | "revoked"
  | "token_reused"
  | "password_changed"
  | "password_reset"
  | "user_disabled";

export interface SessionSummary {
  id: string;
  device: string | null;
  ip: string | null;
  createdAt: Date;
  lastUsedAt: Date;
}

export interface RevokedSessions {
  sessionIds: string[];
  /** The organizations sent a webhook message about it (the user's). */
  orgIds: string[];
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
 * beside its audit row and a `session.revoked` message to each of the user's organizations; once it has
 * committed, `publishRevocations` stops their access tokens.
 */
export async function revokeSessionsIn(
  tx: Db,
  target: { userId: string; sessionId?: string },
  reason: RevocationReason,
  nowMs: number,
): Promise<RevokedSessions> {
  const revoked = await tx
    .update(sessions)
    .set({ revokedAt: new Date(nowMs), revokedReason: reason })
    .where(
      and(
        eq(sessions.userId, target.userId),
        target.sessionId === undefined ? undefined : eq(sessions.id, target.sessionId),
        isNull(sessions.revokedAt),
      ),
    )
    .returning({ id: sessions.id });
  const sessionIds = revoked.map((session) => session.id);
  if (sessionIds.length === 0) return { sessionIds, orgIds: [] };
  const data = { userId: target.userId, sessionIds, reason };
  const orgIds = await enqueueUserWebhookMessage(tx, target.userId, { type: "session.revoked", data }, nowMs);
  return { sessionIds, orgIds };
}

/** Tells every instance, through the store, that these committed revocations hold for access tokens too. */
export async function publishRevocations(runtime: IdentityRuntime, sessionIds: readonly string[]): Promise<void> {
  const { revocations } = runtime.services.identity;
  await Promise.all(sessionIds.map((sessionId) => revocations.revoke(sessionId)));
}

export interface RevocationOutbox {
  /** One more message to the user's organizations in the same transaction (a detected token reuse). */
  also?: UserMessage;
  committed?: MessagesCommitted;
}

/**
 * Revokes in the database with the audit row `eventOf(revoked)` in the same transaction (none when it
 * answers undefined), then in the store; `outbox.committed` hears which organizations were sent messages.
 */
export async function revokeSessionsAudited(
  runtime: IdentityRuntime,
  target: { userId: string; sessionId?: string },
  reason: RevocationReason,
  eventOf: (revoked: string[]) => AuditEvent | undefined,
  request?: Request,
  outbox: RevocationOutbox = {},
): Promise<string[]> {
  const nowMs = runtime.now();
  const { sessionIds, orgIds } = await runtime.db.primary.transaction(async (tx) => {
    const revoked = await revokeSessionsIn(tx, target, reason, nowMs);
    const event = eventOf(revoked.sessionIds);
    if (event !== undefined) await recordAuditEvent(tx, event, request);
    if (outbox.also === undefined) return revoked;
    const told = await enqueueUserWebhookMessage(tx, target.userId, outbox.also, nowMs);
    return { sessionIds: revoked.sessionIds, orgIds: [...new Set([...revoked.orgIds, ...told])] };
  });
  if (orgIds.length > 0) outbox.committed?.(orgIds);
  await publishRevocations(runtime, sessionIds);
  return sessionIds;
}

/** A user revoking one of their own sessions; false when it is not theirs or not live (the caller answers 404). */
export async function revokeOwnSession(
  runtime: IdentityRuntime,
  caller: { userId: string; sessionId: string },
  sessionId: string,
  request?: Request,
  committed?: MessagesCommitted,
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
    (
      await revokeSessionsAudited(runtime, { userId: caller.userId, sessionId }, "revoked", eventOf, request, {
        committed,
      })
    ).length > 0
  );
}
