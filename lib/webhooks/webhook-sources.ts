/**
 * An organization's inbound webhook sources: create, list, disable, and rotate the signing secret, each
 * change with its audit row in the same transaction. Secrets are sealed with the envelope encryption, bound
 * to their row; no secret reaches a list, a log or an audit row.
 */
import { and, desc, eq, gt, isNull, or } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { IdentityRuntime } from "../auth/identity.ts";
import { orgAuditTag } from "../cache/cache-tags.ts";
import { purgeAfterCommit, purgedAfter } from "../cache/purge-after-commit.ts";
import type { Db } from "../db/database.ts";
import { webhookSourceSecrets, webhookSources } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { signingKeyBytes, type WebhookKind } from "./webhook-secret.ts";

/** How long the old secret keeps verifying after a rotation, unless the rotation names another overlap. */
export const DEFAULT_SECRET_OVERLAP_SECONDS = 86_400;
export const MAX_SECRET_OVERLAP_SECONDS = 7 * 86_400;

/** The additional authenticated data a secret's ciphertext is bound to. */
export const webhookSecretRowIdentity = (id: string) => `webhook_source_secrets:${id}`;

export interface WebhookSourceView {
  id: string;
  kind: WebhookKind;
  name: string;
  createdAt: string;
  disabledAt: string | null;
  /** When each live secret stops verifying (null: until the next rotation); never the secret. */
  secrets: { id: string; notBefore: string; notAfter: string | null }[];
}

/** The same answer for a source that does not exist and one of another organization. */
export const sourceNotFound = () => new AppError("NOT_FOUND", "No such webhook source.");

function validSecret(kind: WebhookKind, secret: string): void {
  const bytes = signingKeyBytes(kind, secret);
  if (typeof bytes === "string")
    throw new AppError("VALIDATION_FAILED", undefined, { fields: [{ path: "secret", message: bytes }] });
}

async function insertSecret(tx: Db, runtime: IdentityRuntime, sourceId: string, secret: string, notBefore: Date) {
  const id = crypto.randomUUID();
  const secretCiphertext = await runtime.services.identity.encryptor.encrypt(secret, webhookSecretRowIdentity(id));
  await tx.insert(webhookSourceSecrets).values({ id, sourceId, secretCiphertext, notBefore });
  return id;
}

const liveAt = (now: Date) => or(isNull(webhookSourceSecrets.notAfter), gt(webhookSourceSecrets.notAfter, now));

export async function createWebhookSource(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  input: { kind: WebhookKind; name: string; secret: string },
  request?: Request,
): Promise<WebhookSourceView> {
  validSecret(input.kind, input.secret);
  const now = new Date(runtime.now());
  return purgedAfter(
    runtime,
    [orgAuditTag(orgId)],
    runtime.db.primary.transaction(async (tx) => {
      const [source] = await tx
        .insert(webhookSources)
        .values({ orgId, kind: input.kind, name: input.name, createdAt: now })
        .returning();
      if (source === undefined) throw new Error("inserting a webhook source returned no row");
      const secretId = await insertSecret(tx, runtime, source.id, input.secret, now);
      await recordAuditEvent(
        tx,
        {
          action: "webhook_source.created",
          actor,
          orgId,
          target: { type: "webhook_source", id: source.id },
          metadata: { kind: source.kind, name: source.name },
        },
        request,
      );
      return {
        id: source.id,
        kind: source.kind,
        name: source.name,
        createdAt: source.createdAt.toISOString(),
        disabledAt: null,
        secrets: [{ id: secretId, notBefore: now.toISOString(), notAfter: null }],
      };
    }),
  );
}

export async function listWebhookSources(db: Db, orgId: string, nowMs: number): Promise<WebhookSourceView[]> {
  const now = new Date(nowMs);
  const rows = await db
    .select({
      source: webhookSources,
      secret: {
        id: webhookSourceSecrets.id,
        notBefore: webhookSourceSecrets.notBefore,
        notAfter: webhookSourceSecrets.notAfter,
      },
    })
    .from(webhookSources)
    .leftJoin(webhookSourceSecrets, and(eq(webhookSourceSecrets.sourceId, webhookSources.id), liveAt(now)))
    .where(eq(webhookSources.orgId, orgId))
    .orderBy(desc(webhookSources.createdAt), webhookSources.id, webhookSourceSecrets.notBefore);
  const views = new Map<string, WebhookSourceView>();
  for (const { source, secret } of rows) {
    let view = views.get(source.id);
    if (view === undefined) {
      view = {
        id: source.id,
        kind: source.kind,
        name: source.name,
        createdAt: source.createdAt.toISOString(),
        disabledAt: source.disabledAt?.toISOString() ?? null,
        secrets: [],
      };
      views.set(source.id, view);
    }
    if (secret !== null)
      view.secrets.push({
        id: secret.id,
        notBefore: secret.notBefore.toISOString(),
        notAfter: secret.notAfter?.toISOString() ?? null,
      });
  }
  return [...views.values()];
}

/** Refuses every later delivery at once. Disabling twice is a no-op. */
export async function disableWebhookSource(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  sourceId: string,
  request?: Request,
): Promise<void> {
  await runtime.db.primary.transaction(async (tx) => {
    const [source] = await tx
      .select({ disabledAt: webhookSources.disabledAt })
      .from(webhookSources)
      .where(and(eq(webhookSources.id, sourceId), eq(webhookSources.orgId, orgId)))
      .for("update");
    if (source === undefined) throw sourceNotFound();
    if (source.disabledAt !== null) return;
    await tx
      .update(webhookSources)
      .set({ disabledAt: new Date(runtime.now()) })
      .where(eq(webhookSources.id, sourceId));
    await recordAuditEvent(
      tx,
      { action: "webhook_source.disabled", actor, orgId, target: { type: "webhook_source", id: sourceId } },
      request,
    );
  });
  await purgeAfterCommit(runtime, [orgAuditTag(orgId)]);
}

/**
 * Adds `secret` and keeps the previous one verifying for `overlapSeconds`, so the sender can switch over.
 * At most two secrets are live: a secret still in an earlier overlap ends now.
 */
export async function rotateWebhookSecret(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  sourceId: string,
  input: { secret: string; overlapSeconds: number },
  request?: Request,
): Promise<{ secretId: string; overlapEndsAt: string }> {
  const now = new Date(runtime.now());
  const overlapEndsAt = new Date(now.getTime() + input.overlapSeconds * 1000);
  return purgedAfter(
    runtime,
    [orgAuditTag(orgId)],
    runtime.db.primary.transaction(async (tx) => {
      const [source] = await tx
        .select({ kind: webhookSources.kind })
        .from(webhookSources)
        .where(and(eq(webhookSources.id, sourceId), eq(webhookSources.orgId, orgId)))
        .for("update");
      if (source === undefined) throw sourceNotFound();
      validSecret(source.kind, input.secret);
      const live = await tx
        .select({ id: webhookSourceSecrets.id, notAfter: webhookSourceSecrets.notAfter })
        .from(webhookSourceSecrets)
        .where(and(eq(webhookSourceSecrets.sourceId, sourceId), liveAt(now)));
      for (const secret of live) {
        const notAfter = secret.notAfter === null ? overlapEndsAt : now;
        await tx.update(webhookSourceSecrets).set({ notAfter }).where(eq(webhookSourceSecrets.id, secret.id));
      }
      const secretId = await insertSecret(tx, runtime, sourceId, input.secret, now);
      await recordAuditEvent(
        tx,
        {
          action: "webhook_source.secret_rotated",
          actor,
          orgId,
          target: { type: "webhook_source", id: sourceId },
          metadata: { newSecretId: secretId, overlapEndsAt: overlapEndsAt.toISOString() },
        },
        request,
      );
      return { secretId, overlapEndsAt: overlapEndsAt.toISOString() };
    }),
  );
}
