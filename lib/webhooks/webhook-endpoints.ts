/**
 * An organization's outbound webhook endpoints: create (the URL vetted against SSRF, a generated secret shown
 * once), list, rotate the secret with an overlap, disable and enable, each change with its audit row in the
 * same transaction. Secrets are sealed with the envelope encryption, bound to their row.
 */
import { and, desc, eq, gt, isNull, or } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { IdentityRuntime } from "../auth/identity.ts";
import { orgAuditTag } from "../cache/cache-tags.ts";
import { purgedAfter } from "../cache/purge-after-commit.ts";
import type { Db } from "../db/database.ts";
import { webhookEndpointSecrets, webhookEndpoints } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import type { WebhookEventType } from "../outbox/webhook-outbox.ts";
import { type EndpointUrlOptions, endpointUrlProblem } from "./endpoint-url.ts";

/** How long the old secret keeps signing after a rotation, unless the rotation names another overlap. */
export const DEFAULT_ENDPOINT_OVERLAP_SECONDS = 86_400;
export const MAX_ENDPOINT_OVERLAP_SECONDS = 7 * 86_400;
const SECRET_BYTES = 32;

/** The additional authenticated data a secret's ciphertext is bound to. */
export const endpointSecretRowIdentity = (id: string) => `webhook_endpoint_secrets:${id}`;

export interface WebhookEndpointView {
  id: string;
  url: string;
  eventTypes: string[];
  createdAt: string;
  disabledAt: string | null;
  disabledReason: string | null;
  failingSince: string | null;
}

/** The same answer for an endpoint that does not exist and one of another organization. */
export const endpointNotFound = () => new AppError("NOT_FOUND", "No such webhook endpoint.");

const generateSecret = () =>
  `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(SECRET_BYTES))).toString("base64")}`;

const iso = (at: Date | null) => at?.toISOString() ?? null;

function viewOf(row: typeof webhookEndpoints.$inferSelect): WebhookEndpointView {
  return {
    id: row.id,
    url: row.url,
    eventTypes: [...row.eventTypes],
    createdAt: row.createdAt.toISOString(),
    disabledAt: iso(row.disabledAt),
    disabledReason: row.disabledReason,
    failingSince: iso(row.failingSince),
  };
}

export const liveEndpointSecretAt = (now: Date) =>
  or(isNull(webhookEndpointSecrets.notAfter), gt(webhookEndpointSecrets.notAfter, now));

async function insertSecret(tx: Db, runtime: IdentityRuntime, endpointId: string, notBefore: Date) {
  const id = crypto.randomUUID();
  const secret = generateSecret();
  const secretCiphertext = await runtime.services.identity.encryptor.encrypt(secret, endpointSecretRowIdentity(id));
  await tx.insert(webhookEndpointSecrets).values({ id, endpointId, secretCiphertext, notBefore });
  return secret;
}

/** Throws VALIDATION_FAILED (422) naming why the URL may not receive deliveries. */
export async function requireDeliverableUrl(url: string, options: EndpointUrlOptions): Promise<void> {
  const problem = await endpointUrlProblem(url, options);
  if (problem !== undefined)
    throw new AppError("VALIDATION_FAILED", undefined, { fields: [{ path: "url", message: problem }] });
}

export async function createWebhookEndpoint(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  input: { url: string; eventTypes: readonly WebhookEventType[] },
  urlOptions: EndpointUrlOptions,
  request?: Request,
): Promise<WebhookEndpointView & { secret: string }> {
  await requireDeliverableUrl(input.url, urlOptions);
  const now = new Date(runtime.now());
  return purgedAfter(
    runtime,
    [orgAuditTag(orgId)],
    runtime.db.primary.transaction(async (tx) => {
      const [row] = await tx
        .insert(webhookEndpoints)
        .values({ orgId, url: input.url, eventTypes: [...new Set(input.eventTypes)], createdAt: now })
        .returning();
      if (row === undefined) throw new Error("inserting a webhook endpoint returned no row");
      const secret = await insertSecret(tx, runtime, row.id, now);
      await recordAuditEvent(
        tx,
        {
          action: "webhook_endpoint.created",
          actor,
          orgId,
          target: { type: "webhook_endpoint", id: row.id },
          metadata: { url: row.url, eventTypes: row.eventTypes },
        },
        request,
      );
      return { ...viewOf(row), secret };
    }),
  );
}

export async function listWebhookEndpoints(db: Db, orgId: string): Promise<WebhookEndpointView[]> {
  const rows = await db
    .select()
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.orgId, orgId))
    .orderBy(desc(webhookEndpoints.createdAt), webhookEndpoints.id);
  return rows.map(viewOf);
}

async function lockEndpoint(tx: Db, orgId: string, endpointId: string) {
  const [row] = await tx
    .select()
    .from(webhookEndpoints)
    .where(and(eq(webhookEndpoints.id, endpointId), eq(webhookEndpoints.orgId, orgId)))
    .for("update");
  if (row === undefined) throw endpointNotFound();
  return row;
}

/**
 * Generates a new secret; deliveries carry both signatures until `overlapSeconds` pass, so the receiver can
 * switch over. At most two secrets are live: one still in an earlier overlap ends now.
 */
export async function rotateEndpointSecret(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  endpointId: string,
  overlapSeconds: number,
  request?: Request,
): Promise<{ secret: string; overlapEndsAt: string }> {
  const now = new Date(runtime.now());
  const overlapEndsAt = new Date(now.getTime() + overlapSeconds * 1000);
  return purgedAfter(
    runtime,
    [orgAuditTag(orgId)],
    runtime.db.primary.transaction(async (tx) => {
      await lockEndpoint(tx, orgId, endpointId);
      const live = await tx
        .select({ id: webhookEndpointSecrets.id, notAfter: webhookEndpointSecrets.notAfter })
        .from(webhookEndpointSecrets)
        .where(and(eq(webhookEndpointSecrets.endpointId, endpointId), liveEndpointSecretAt(now)));
      for (const old of live) {
        const notAfter = old.notAfter === null ? overlapEndsAt : now;
        await tx.update(webhookEndpointSecrets).set({ notAfter }).where(eq(webhookEndpointSecrets.id, old.id));
      }
      const secret = await insertSecret(tx, runtime, endpointId, now);
      await recordAuditEvent(
        tx,
        {
          action: "webhook_endpoint.secret_rotated",
          actor,
          orgId,
          target: { type: "webhook_endpoint", id: endpointId },
          metadata: { overlapEndsAt: overlapEndsAt.toISOString() },
        },
        request,
      );
      return { secret, overlapEndsAt: overlapEndsAt.toISOString() };
    }),
  );
}

/**
 * Disables (with a reason) or enables an endpoint; doing it twice is a no-op. `tx` lets the delivery worker
 * disable inside its own transaction; `actor` is the system there.
 */
export async function setEndpointEnabled(
  tx: Db,
  change: { orgId: string; endpointId: string; enabled: boolean; reason?: string; nowMs: number },
  actor: AuditEvent["actor"],
  request?: Request,
): Promise<WebhookEndpointView> {
  const row = await lockEndpoint(tx, change.orgId, change.endpointId);
  if ((row.disabledAt === null) === change.enabled) return viewOf(row);
  const [updated] = await tx
    .update(webhookEndpoints)
    .set(
      change.enabled
        ? { disabledAt: null, disabledReason: null, failingSince: null }
        : { disabledAt: new Date(change.nowMs), disabledReason: change.reason ?? "disabled by an admin" },
    )
    .where(eq(webhookEndpoints.id, change.endpointId))
    .returning();
  if (updated === undefined) throw endpointNotFound();
  await recordAuditEvent(
    tx,
    {
      action: change.enabled ? "webhook_endpoint.enabled" : "webhook_endpoint.disabled",
      actor,
      orgId: change.orgId,
      target: { type: "webhook_endpoint", id: change.endpointId },
      ...(change.enabled ? {} : { metadata: { reason: updated.disabledReason } }),
    },
    request,
  );
  return viewOf(updated);
}
