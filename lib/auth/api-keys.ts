/**
 * Managing an organization's API keys: create (the key is returned once), list, revoke and rotate, each
 * with its audit event. Only the hash and a short visible prefix are stored; no key reaches a log or audit row.
 */
import { and, desc, eq, isNull, sql } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import { orgAuditTag, orgKeysTag } from "../cache/cache-tags.ts";
import { purgeAfterCommit } from "../cache/purge-after-commit.ts";
import type { ApiKeyScope } from "../core/api-key-scopes.ts";
import type { RefillInterval } from "../core/caller.ts";
import type { Db } from "../db/database.ts";
import { apiKeys } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { enqueueWebhookMessage } from "../outbox/webhook-outbox.ts";
import type { IdentityRuntime } from "./identity.ts";
import { creditsKeyOf, seedPeriodOf } from "./usage-credits.ts";

export const DEFAULT_ROTATION_GRACE_SECONDS = 3_600;
export const MAX_ROTATION_GRACE_SECONDS = 7 * 86_400;

/** Usage credits as an owner sets them: a count, and optionally what it refills to each day or month. */
export interface CreditSettings {
  remaining: number;
  refill?: { interval: RefillInterval; amount: number };
}

export interface NewApiKey {
  name: string;
  scopes: readonly ApiKeyScope[];
  expiresAt?: Date;
  rateLimitPerMinute?: number;
  /** Verifications the key may make; unlimited when absent. */
  credits?: CreditSettings;
  meta?: Record<string, unknown>;
  externalId?: string;
  /** @default true */
  enabled?: boolean;
}

export interface ApiKeyView {
  id: string;
  name: string;
  visiblePrefix: string;
  scopes: string[];
  rateLimitPerMinute: number | null;
  createdBy: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  graceEndsAt: string | null;
  replacedBy: string | null;
  lastUsedAt: string | null;
  flaggedAt: string | null;
  meta: Record<string, unknown> | null;
  enabled: boolean;
  externalId: string | null;
  /** Credits left as last written behind the live count (it may trail it by a second); null when unlimited. */
  remaining: number | null;
  refill: { interval: RefillInterval; amount: number } | null;
}

export interface IssuedApiKey extends ApiKeyView {
  /** The key itself: shown this once and never again. */
  key: string;
}

const VIEW_COLUMNS = {
  id: apiKeys.id,
  name: apiKeys.name,
  visiblePrefix: apiKeys.visiblePrefix,
  scopes: apiKeys.scopes,
  rateLimitPerMinute: apiKeys.rateLimitPerMinute,
  createdBy: apiKeys.createdBy,
  createdAt: apiKeys.createdAt,
  expiresAt: apiKeys.expiresAt,
  revokedAt: apiKeys.revokedAt,
  graceEndsAt: apiKeys.graceEndsAt,
  replacedBy: apiKeys.replacedBy,
  lastUsedAt: apiKeys.lastUsedAt,
  flaggedAt: apiKeys.flaggedAt,
  meta: apiKeys.meta,
  enabled: apiKeys.enabled,
  externalId: apiKeys.externalId,
  creditsRemaining: apiKeys.creditsRemaining,
  creditsRefillAmount: apiKeys.creditsRefillAmount,
  creditsRefillInterval: apiKeys.creditsRefillInterval,
};

type ViewRow = Pick<typeof apiKeys.$inferSelect, keyof typeof VIEW_COLUMNS>;

const iso = (at: Date | null) => (at === null ? null : at.toISOString());

function viewOf({ creditsRemaining, creditsRefillAmount, creditsRefillInterval, ...row }: ViewRow): ApiKeyView {
  return {
    ...row,
    remaining: creditsRemaining,
    refill:
      creditsRefillInterval === null || creditsRefillAmount === null
        ? null
        : { interval: creditsRefillInterval, amount: creditsRefillAmount },
    scopes: [...row.scopes],
    createdAt: row.createdAt.toISOString(),
    expiresAt: iso(row.expiresAt),
    revokedAt: iso(row.revokedAt),
    graceEndsAt: iso(row.graceEndsAt),
    lastUsedAt: iso(row.lastUsedAt),
    flaggedAt: iso(row.flaggedAt),
  };
}

/** The credit columns of a key or identity for `credits` set at `now`: all null for unlimited. */
export function creditColumnsOf(credits: CreditSettings | undefined, now: number) {
  return {
    creditsRemaining: credits?.remaining ?? null,
    creditsRefillAmount: credits?.refill?.amount ?? null,
    creditsRefillInterval: credits?.refill?.interval ?? null,
    creditsPeriod: seedPeriodOf(credits?.refill?.interval, now),
  };
}

/** The same answer for a key that does not exist and one of another organization. */
export const keyNotFound = () => new AppError("NOT_FOUND", "No such API key.");

// An author's user id, or null when an API key acted (it is not a user).
const createdByOf = (actor: AuditEvent["actor"]) => (actor.type === "user" ? (actor.id ?? null) : null);

export async function createApiKey(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  input: NewApiKey,
  request?: Request,
): Promise<IssuedApiKey> {
  const { key, hash, visiblePrefix } = runtime.services.identity.apiKeys.format.generate();
  const issued = await runtime.db.primary.transaction(async (tx) => {
    const [row] = await tx
      .insert(apiKeys)
      .values({
        orgId,
        name: input.name,
        keyHash: hash,
        visiblePrefix,
        scopes: [...input.scopes],
        rateLimitPerMinute: input.rateLimitPerMinute ?? null,
        expiresAt: input.expiresAt ?? null,
        createdBy: createdByOf(actor),
        meta: input.meta ?? null,
        externalId: input.externalId ?? null,
        enabled: input.enabled ?? true,
        ...creditColumnsOf(input.credits, runtime.now()),
      })
      .returning(VIEW_COLUMNS);
    if (row === undefined) throw new Error("inserting an API key returned no row");
    const metadata = {
      name: row.name,
      scopes: row.scopes,
      expiresAt: iso(row.expiresAt),
      rateLimitPerMinute: row.rateLimitPerMinute,
      enabled: row.enabled,
      externalId: row.externalId,
      remaining: row.creditsRemaining,
      refill: input.credits?.refill ?? null,
    };
    await recordAuditEvent(
      tx,
      { action: "api_key.created", actor, orgId, target: { type: "api_key", id: row.id }, metadata },
      request,
    );
    const data = { keyId: row.id, ...metadata };
    await enqueueWebhookMessage(tx, { orgId, type: "api_key.created", data }, runtime.now());
    return { ...viewOf(row), key };
  });
  await purgeAfterCommit(runtime, keyChangeTags(orgId));
  return issued;
}

/** What a change to an organization's keys makes stale: its key list and its audit log. */
const keyChangeTags = (orgId: string) => [orgKeysTag(orgId), orgAuditTag(orgId)];

export async function listApiKeys(db: Db, orgId: string): Promise<ApiKeyView[]> {
  const rows = await db
    .select(VIEW_COLUMNS)
    .from(apiKeys)
    .where(eq(apiKeys.orgId, orgId))
    .orderBy(desc(apiKeys.createdAt), apiKeys.id);
  return rows.map(viewOf);
}

/** When the key was last used (it trails the last use by at most a minute); 404 for another org's key. */
export async function lastUsedOf(db: Db, orgId: string, keyId: string): Promise<string | null> {
  const [row] = await db
    .select({ lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.id, keyId), eq(apiKeys.orgId, orgId)));
  if (row === undefined) throw keyNotFound();
  return iso(row.lastUsedAt);
}

/** The organization a key belongs to, to authorise an action named by the key's id alone. */
export async function orgOfApiKey(db: Db, keyId: string): Promise<string | undefined> {
  const [row] = await db.select({ orgId: apiKeys.orgId }).from(apiKeys).where(eq(apiKeys.id, keyId));
  return row?.orgId;
}

/** Revokes at once, here and (through the verifier's marker) on every instance. Revoking twice is a no-op. */
export async function revokeApiKey(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  keyId: string,
  request?: Request,
): Promise<void> {
  const now = new Date(runtime.now());
  const revoked = await runtime.db.primary.transaction(async (tx) => {
    const [row] = await tx
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt)))
      .returning({ id: apiKeys.id });
    if (row === undefined) {
      const [known] = await tx
        .select({ id: apiKeys.id })
        .from(apiKeys)
        .where(and(eq(apiKeys.id, keyId), eq(apiKeys.orgId, orgId)));
      if (known === undefined) throw keyNotFound();
      return false;
    }
    await recordAuditEvent(
      tx,
      { action: "api_key.revoked", actor, orgId, target: { type: "api_key", id: keyId } },
      request,
    );
    await enqueueWebhookMessage(tx, { orgId, type: "api_key.revoked", data: { keyId } }, now.getTime());
    return true;
  });
  if (!revoked) return;
  await purgeAfterCommit(runtime, keyChangeTags(orgId));
  await runtime.services.identity.apiKeys.invalidate(keyId, now);
}

/** What an owner may change on a key without reissuing it; absent fields stay as they are. */
export interface ApiKeyChanges {
  name?: string;
  meta?: Record<string, unknown> | null;
  enabled?: boolean;
  externalId?: string | null;
  /** Null makes the key unlimited. */
  credits?: CreditSettings | null;
}

/**
 * Changes a key, with an audit row naming each changed field's old and new value. Disabling stops the key like a
 * revocation (at once here, within `revocationCheckMs` elsewhere); any other change, enabling included, reaches
 * other instances when their cached row ages out (`cacheTtlMs`). New credits replace the live count at once.
 */
export async function updateApiKey(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  keyId: string,
  changes: ApiKeyChanges,
  request?: Request,
): Promise<ApiKeyView> {
  const now = runtime.now();
  const { credits, ...plain } = changes;
  const updated = await runtime.db.primary.transaction(async (tx) => {
    const [before] = await tx
      .select(VIEW_COLUMNS)
      .from(apiKeys)
      .where(and(eq(apiKeys.id, keyId), eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt)))
      .for("update");
    if (before === undefined) throw keyNotFound();
    const creditColumns =
      credits === undefined
        ? {}
        : { ...creditColumnsOf(credits ?? undefined, now), creditsVersion: sql`${apiKeys.creditsVersion} + 1` };
    const [row] = await tx
      .update(apiKeys)
      .set({ ...plain, ...creditColumns })
      .where(eq(apiKeys.id, keyId))
      .returning({ ...VIEW_COLUMNS, creditsPeriod: apiKeys.creditsPeriod, creditsVersion: apiKeys.creditsVersion });
    if (row === undefined) throw keyNotFound();
    const old = viewOf(before);
    const { creditsPeriod, creditsVersion, ...viewRow } = row;
    const view = viewOf(viewRow);
    const fields = ["name", "meta", "enabled", "externalId", "remaining", "refill"] as const;
    const changed = fields.filter((field) => JSON.stringify(old[field]) !== JSON.stringify(view[field]));
    await recordAuditEvent(
      tx,
      {
        action: "api_key.updated",
        actor,
        orgId,
        target: { type: "api_key", id: keyId },
        metadata: {
          old: Object.fromEntries(changed.map((field) => [field, old[field]])),
          new: Object.fromEntries(changed.map((field) => [field, view[field]])),
        },
      },
      request,
    );
    return { view, wasEnabled: old.enabled, creditsPeriod, creditsVersion };
  });
  const { view } = updated;
  const apiKeysService = runtime.services.identity.apiKeys;
  if (view.enabled === false && updated.wasEnabled) await apiKeysService.invalidate(keyId, new Date(now));
  else await apiKeysService.forget(keyId, { revived: view.enabled && !updated.wasEnabled });
  if (credits != null) {
    // Pushes the new count now; should this fail, instances seed it once they read the new version.
    await runtime.store
      .spendBudget(creditsKeyOf({ kind: "key", id: keyId }), {
        cost: 0,
        period: updated.creditsPeriod,
        refillAmount: view.refill?.amount ?? 0,
        version: updated.creditsVersion,
        seed: { remaining: view.remaining ?? 0, period: updated.creditsPeriod },
      })
      .catch((error: unknown) => runtime.logger.warn("key credits not pushed to the store", { error }));
  }
  await purgeAfterCommit(runtime, keyChangeTags(orgId));
  return view;
}

/**
 * Issues a successor with the same organization, name, scopes, rate limit and expiry. The old key keeps
 * working for the grace period, never past its own expiry; a key already rotated or revoked cannot be.
 */
export async function rotateApiKey(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  keyId: string,
  graceSeconds: number,
  request?: Request,
): Promise<IssuedApiKey & { replaces: { id: string; graceEndsAt: string } }> {
  const { key, hash, visiblePrefix } = runtime.services.identity.apiKeys.format.generate();
  const now = new Date(runtime.now());
  const rotated = await runtime.db.primary.transaction(async (tx) => {
    const [old] = await tx.select().from(apiKeys).where(eq(apiKeys.id, keyId)).for("update");
    if (old === undefined) throw keyNotFound();
    const dead = old.revokedAt !== null || old.replacedBy !== null || (old.expiresAt !== null && old.expiresAt <= now);
    if (dead) throw new AppError("CONFLICT", "This key was already revoked, rotated or has expired.");
    const graceEndsAt = new Date(Math.min(now.getTime() + graceSeconds * 1000, old.expiresAt?.getTime() ?? Infinity));
    const [row] = await tx
      .insert(apiKeys)
      .values({
        orgId: old.orgId,
        name: old.name,
        keyHash: hash,
        visiblePrefix,
        scopes: old.scopes,
        rateLimitPerMinute: old.rateLimitPerMinute,
        expiresAt: old.expiresAt,
        createdBy: createdByOf(actor),
        meta: old.meta,
        externalId: old.externalId,
        enabled: old.enabled,
        // The successor starts from the count the database last had; the old key spends its own until its grace ends.
        creditsRemaining: old.creditsRemaining,
        creditsRefillAmount: old.creditsRefillAmount,
        creditsRefillInterval: old.creditsRefillInterval,
        creditsPeriod: old.creditsPeriod,
      })
      .returning(VIEW_COLUMNS);
    if (row === undefined) throw new Error("inserting an API key returned no row");
    await tx.update(apiKeys).set({ graceEndsAt, replacedBy: row.id }).where(eq(apiKeys.id, keyId));
    await recordAuditEvent(
      tx,
      {
        action: "api_key.rotated",
        actor,
        orgId: old.orgId,
        target: { type: "api_key", id: keyId },
        metadata: { newKeyId: row.id, graceEndsAt: graceEndsAt.toISOString() },
      },
      request,
    );
    const data = { keyId, newKeyId: row.id, graceEndsAt: graceEndsAt.toISOString() };
    await enqueueWebhookMessage(tx, { orgId: old.orgId, type: "api_key.rotated", data }, now.getTime());
    return { row, graceEndsAt, orgId: old.orgId };
  });
  await purgeAfterCommit(runtime, keyChangeTags(rotated.orgId));
  await runtime.services.identity.apiKeys.invalidate(keyId, rotated.graceEndsAt);
  return { ...viewOf(rotated.row), key, replaces: { id: keyId, graceEndsAt: rotated.graceEndsAt.toISOString() } };
}
