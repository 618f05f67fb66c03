/**
 * The outbox: a change writes its webhook message in its own transaction, so a message exists exactly when
 * the change committed, and one pending attempt per enabled endpoint of the organization subscribed to it.
 */
import { and, arrayContains, asc, eq, isNull, sql } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import {
  memberships,
  orgEventSequences,
  webhookAttempts,
  webhookEndpoints,
  webhookMessages,
} from "../db/schema/index.ts";

/** Every event Rampart sends; an endpoint subscribes to some of them. */
export const WEBHOOK_EVENT_TYPES = [
  "api_key.created",
  "api_key.rotated",
  "api_key.revoked",
  "member.added",
  "member.removed",
  "member.role_changed",
  "refresh_token.reuse_detected",
  "session.revoked",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface OutboxMessage {
  orgId: string;
  type: WebhookEventType;
  data: Record<string, unknown>;
}

/** An event about a user rather than an organization (their sessions): it goes to each of the user's organizations. */
export type UserMessage = Omit<OutboxMessage, "orgId">;

/** Told the organizations a committed change wrote messages for, so their first attempts can go out at once. */
export type MessagesCommitted = (orgIds: readonly string[]) => void;

/** A Standard Webhooks message id: stable across retries, so receivers deduplicate by it. */
const newMessageId = () => `msg_${crypto.randomUUID().replaceAll("-", "")}`;

/** The organization's next event number; its row stays locked until `tx` ends, so numbers commit in order. */
async function nextEventSeq(tx: Db, orgId: string): Promise<number> {
  const [row] = await tx
    .insert(orgEventSequences)
    .values({ orgId, lastSeq: 1 })
    .onConflictDoUpdate({ target: orgEventSequences.orgId, set: { lastSeq: sql`${orgEventSequences.lastSeq} + 1` } })
    .returning({ seq: orgEventSequences.lastSeq });
  if (row === undefined) throw new Error("the event sequence returned no row");
  return row.seq;
}

/** Writes `message` and its first attempts inside `tx`; returns the message id. */
export async function enqueueWebhookMessage(tx: Db, message: OutboxMessage, nowMs: number): Promise<string> {
  const id = newMessageId();
  const now = new Date(nowMs);
  const seq = await nextEventSeq(tx, message.orgId);
  await tx
    .insert(webhookMessages)
    .values({ id, orgId: message.orgId, eventType: message.type, payload: message.data, createdAt: now, seq });
  const endpoints = await tx
    .select({ id: webhookEndpoints.id })
    .from(webhookEndpoints)
    .where(
      and(
        eq(webhookEndpoints.orgId, message.orgId),
        isNull(webhookEndpoints.disabledAt),
        arrayContains(webhookEndpoints.eventTypes, [message.type]),
      ),
    );
  if (endpoints.length > 0)
    await tx
      .insert(webhookAttempts)
      .values(endpoints.map(({ id: endpointId }) => ({ messageId: id, endpointId, attempt: 1, nextAttemptAt: now })));
  return id;
}

/**
 * Writes `message` inside `tx` once for each organization `userId` belongs to (an admin wants to know of a
 * member's compromised session); returns those organizations.
 */
export async function enqueueUserWebhookMessage(
  tx: Db,
  userId: string,
  message: UserMessage,
  nowMs: number,
): Promise<string[]> {
  // In one order everywhere: each organization's sequence row is locked in turn, and two users sharing two
  // organizations must not take them in opposite orders.
  const orgs = await tx
    .select({ orgId: memberships.orgId })
    .from(memberships)
    .where(eq(memberships.userId, userId))
    .orderBy(asc(memberships.orgId));
  for (const { orgId } of orgs) await enqueueWebhookMessage(tx, { orgId, ...message }, nowMs);
  return orgs.map(({ orgId }) => orgId);
}
