/**
 * SLO alert channels stored by operators: create (the URL vetted like an outbound webhook endpoint's), list,
 * enable or disable, delete, each change with its audit row in the same transaction. The secret (Slack URL,
 * PagerDuty routing key, whsec_ secret) is sealed with the envelope encryption, bound to its row, and no answer,
 * log line or audit row carries it: answers show its last four characters.
 */
import { asc, eq } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { IdentityRuntime } from "../auth/identity.ts";
import { DEFAULT_CONFIG } from "../config/config.ts";
import type { Encryptor } from "../crypto/envelope-encryption.ts";
import type { Db } from "../db/database.ts";
import { sloAlertChannels } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { type EndpointUrlOptions, endpointUrlProblem } from "../webhooks/endpoint-url.ts";
import { signingKeyBytes } from "../webhooks/webhook-secret.ts";
import type { AlertChannel } from "./slo-alerts.ts";

/** The additional authenticated data a channel's ciphertext is bound to. */
export const alertChannelRowIdentity = (id: string) => `slo_alert_channels:${id}`;

export type AlertChannelInput =
  | { kind: "slack"; webhookUrl: string }
  | { kind: "pagerduty"; routingKey: string; eventsUrl?: string }
  | { kind: "webhook"; url: string; secret: string };

export interface AlertChannelView {
  id: string;
  kind: AlertChannel;
  /** The PagerDuty events URL or the webhook URL; null for Slack, whose URL is the secret. */
  url: string | null;
  /** The secret's last four characters, after an ellipsis. */
  secretHint: string;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A stored channel opened for sending. */
export interface OpenedAlertChannel {
  kind: AlertChannel;
  secret: string;
  url: string | null;
  enabled: boolean;
}

export const alertChannelNotFound = () => new AppError("NOT_FOUND", "No such SLO alert channel.");

const HINT_CHARACTERS = 4;

function viewOf(row: typeof sloAlertChannels.$inferSelect): AlertChannelView {
  return {
    id: row.id,
    kind: row.kind,
    url: row.url,
    secretHint: row.secretHint,
    enabled: row.enabled,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const invalid = (path: string, message: string) =>
  new AppError("VALIDATION_FAILED", undefined, { fields: [{ path, message }] });

async function requireUrl(path: string, url: string, options: EndpointUrlOptions): Promise<void> {
  const problem = await endpointUrlProblem(url, options);
  if (problem !== undefined) throw invalid(path, problem);
}

/** The secret and the non-secret URL of `input`, once each URL passes the outbound endpoint rules. */
async function secretAndUrlOf(input: AlertChannelInput, urlOptions: EndpointUrlOptions) {
  switch (input.kind) {
    case "slack":
      await requireUrl("webhookUrl", input.webhookUrl, urlOptions);
      return { secret: input.webhookUrl, url: null };
    case "pagerduty":
      if (input.eventsUrl !== undefined) await requireUrl("eventsUrl", input.eventsUrl, urlOptions);
      return { secret: input.routingKey, url: input.eventsUrl ?? DEFAULT_CONFIG.pagerdutyEventsUrl };
    case "webhook": {
      const bytes = signingKeyBytes("standard", input.secret);
      if (typeof bytes === "string") throw invalid("secret", bytes);
      await requireUrl("url", input.url, urlOptions);
      return { secret: input.secret, url: input.url };
    }
  }
}

export async function createAlertChannel(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  input: AlertChannelInput,
  urlOptions: EndpointUrlOptions,
  request?: Request,
): Promise<AlertChannelView> {
  const { secret, url } = await secretAndUrlOf(input, urlOptions);
  const id = crypto.randomUUID();
  const now = new Date(runtime.now());
  const secretCiphertext = await runtime.services.identity.encryptor.encrypt(secret, alertChannelRowIdentity(id));
  const secretHint = `…${secret.slice(-HINT_CHARACTERS)}`;
  return runtime.db.primary.transaction(async (tx) => {
    const [row] = await tx
      .insert(sloAlertChannels)
      .values({ id, kind: input.kind, secretCiphertext, secretHint, url, createdAt: now, updatedAt: now })
      .returning();
    if (row === undefined) throw new Error("inserting an SLO alert channel returned no row");
    await recordAuditEvent(
      tx,
      {
        action: "slo.channel.created",
        actor,
        target: { type: "slo_alert_channel", id },
        metadata: { kind: row.kind, url: row.url },
      },
      request,
    );
    return viewOf(row);
  });
}

export async function listAlertChannels(db: Db): Promise<AlertChannelView[]> {
  const rows = await db.select().from(sloAlertChannels).orderBy(asc(sloAlertChannels.createdAt), sloAlertChannels.id);
  return rows.map(viewOf);
}

/** Enables or disables a channel; doing it twice is a no-op without a second audit row. */
export async function setAlertChannelEnabled(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  id: string,
  enabled: boolean,
  request?: Request,
): Promise<AlertChannelView> {
  return runtime.db.primary.transaction(async (tx) => {
    const [row] = await tx.select().from(sloAlertChannels).where(eq(sloAlertChannels.id, id)).for("update");
    if (row === undefined) throw alertChannelNotFound();
    if (row.enabled === enabled) return viewOf(row);
    const [updated] = await tx
      .update(sloAlertChannels)
      .set({ enabled, updatedAt: new Date(runtime.now()) })
      .where(eq(sloAlertChannels.id, id))
      .returning();
    if (updated === undefined) throw alertChannelNotFound();
    await recordAuditEvent(
      tx,
      {
        action: enabled ? "slo.channel.enabled" : "slo.channel.disabled",
        actor,
        target: { type: "slo_alert_channel", id },
        metadata: { kind: row.kind },
      },
      request,
    );
    return viewOf(updated);
  });
}

/** Deletes a channel and its undelivered notifications. */
export async function deleteAlertChannel(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  id: string,
  request?: Request,
): Promise<void> {
  await runtime.db.primary.transaction(async (tx) => {
    const [row] = await tx
      .delete(sloAlertChannels)
      .where(eq(sloAlertChannels.id, id))
      .returning({ kind: sloAlertChannels.kind });
    if (row === undefined) throw alertChannelNotFound();
    await recordAuditEvent(
      tx,
      { action: "slo.channel.deleted", actor, target: { type: "slo_alert_channel", id }, metadata: { kind: row.kind } },
      request,
    );
  });
}

/** The enabled stored channels, which each state change is queued to. */
export async function enabledAlertChannels(db: Db): Promise<{ channel: AlertChannel; channelId: string }[]> {
  const rows = await db
    .select({ id: sloAlertChannels.id, kind: sloAlertChannels.kind })
    .from(sloAlertChannels)
    .where(eq(sloAlertChannels.enabled, true))
    .orderBy(asc(sloAlertChannels.createdAt), sloAlertChannels.id);
  return rows.map((row) => ({ channel: row.kind, channelId: row.id }));
}

/** The channel with its secret decrypted; undefined once it is deleted. */
export async function openAlertChannel(
  db: Db,
  encryptor: Encryptor,
  id: string,
): Promise<OpenedAlertChannel | undefined> {
  const [row] = await db.select().from(sloAlertChannels).where(eq(sloAlertChannels.id, id));
  if (row === undefined) return undefined;
  const secret = await encryptor.decrypt(row.secretCiphertext, alertChannelRowIdentity(row.id));
  return { kind: row.kind, secret, url: row.url, enabled: row.enabled };
}
