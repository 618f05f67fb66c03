/**
 * Writes security events to the append-only audit table. Callers pass what happened and to what; the
 * request's id, address and user agent come from the request context. Never pass a secret in metadata.
 */
import type { Caller } from "../core/caller.ts";
import { requestContextOf } from "../core/request-context.ts";
import type { Db } from "../db/database.ts";
import { auditEvents } from "../db/schema/index.ts";

export type AuditAction =
  | "user.signup"
  | "user.login.succeeded"
  | "user.login.failed"
  | "user.password.changed"
  | "user.password.change_failed"
  | "user.disabled"
  | "user.oidc.linked"
  | "user.oidc.link_refused"
  | "user.email.verified"
  | "user.email.verification_sent"
  | "user.email.change_requested"
  | "user.email.change_failed"
  | "user.email.changed"
  | "user.password.reset_requested"
  | "user.password.reset"
  | "user.login.mfa_required"
  | "user.reauthenticated"
  | "user.mfa.totp_enabled"
  | "user.mfa.totp_removed"
  | "user.mfa.recovery_codes_generated"
  | "user.mfa.recovery_code_used"
  | "user.mfa.locked"
  | "user.passkey.registered"
  | "user.passkey.removed"
  | "session.refreshed"
  | "session.token_reused"
  | "session.logout"
  | "session.revoked"
  | "org.created"
  | "org.updated"
  | "org.member.added"
  | "org.member.removed"
  | "org.member.role_changed"
  | "org.invitation.created"
  | "org.invitation.revoked"
  | "org.invitation.accepted"
  | "api_key.created"
  | "api_key.rotated"
  | "api_key.revoked"
  | "api_key.flagged"
  | "api_key.updated"
  | "key_identity.updated"
  | "signing_key.rotated"
  | "admin.settings.changed"
  | "admin.emergency.changed"
  | "admin.ip_block.added"
  | "admin.ip_block.removed"
  | "admin.operator.granted"
  | "admin.operator.revoked"
  | "admin.cache.purged"
  | "admin.change_failed"
  | "ip.blocked"
  | "webhook_source.created"
  | "webhook_source.disabled"
  | "webhook_source.secret_rotated"
  | "webhook_endpoint.created"
  | "webhook_endpoint.secret_rotated"
  | "webhook_endpoint.disabled"
  | "webhook_endpoint.enabled"
  | "webhook_delivery.replayed"
  | "slo.alert.firing"
  | "slo.alert.resolved"
  | "slo.channel.created"
  | "slo.channel.enabled"
  | "slo.channel.disabled"
  | "slo.channel.deleted"
  | "upload.reserved"
  | "upload.completed"
  | "upload.rejected"
  | "upload.deleted";

export interface AuditEvent {
  action: AuditAction;
  actor: { type: "user" | "api_key" | "admin" | "system" | "anonymous"; id?: string };
  orgId?: string;
  target?: { type: string; id: string };
  metadata?: Record<string, unknown>;
}

function rowOf(event: AuditEvent, request?: Request): typeof auditEvents.$inferInsert {
  const context = request === undefined ? undefined : requestContextOf(request);
  return {
    action: event.action,
    actorType: event.actor.type,
    actorId: event.actor.id ?? null,
    orgId: event.orgId ?? null,
    targetType: event.target?.type ?? null,
    targetId: event.target?.id ?? null,
    ip: context?.clientIp ?? null,
    userAgent: request?.headers.get("user-agent")?.slice(0, 512) ?? null,
    requestId: context?.requestId ?? null,
    metadata: event.metadata ?? null,
  };
}

/** Inserts one event; its id, for a later event that refers to it. */
export async function recordAuditEvent(db: Db, event: AuditEvent, request?: Request): Promise<number> {
  const [row] = await db.insert(auditEvents).values(rowOf(event, request)).returning({ id: auditEvents.id });
  if (row === undefined) throw new Error("inserting an audit event returned no row");
  return row.id;
}

/** Several events in one insert (a scheduled job's batch). */
export async function recordAuditEvents(db: Db, events: readonly AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db.insert(auditEvents).values(events.map((event) => rowOf(event)));
}

/** The audit actor for an authenticated caller. */
export function auditActorOf(caller: Caller): AuditEvent["actor"] {
  return caller.kind === "user" ? { type: "user", id: caller.userId } : { type: "api_key", id: caller.keyId };
}
