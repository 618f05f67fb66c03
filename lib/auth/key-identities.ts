/**
 * Identities: one customer of an organization, named by the `externalId` its keys carry. Its keys share its
 * named rate limits (counted per identity across routes) and, when it has some, its usage credits.
 */
import { and, eq, sql } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { keyIdentities } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { type CreditSettings, creditColumnsOf } from "./api-keys.ts";
import type { IdentityRuntime } from "./identity.ts";
import type { IdentityLimit } from "./identity-limits.ts";
import { creditsKeyOf } from "./usage-credits.ts";

export interface IdentitySettings {
  meta?: Record<string, unknown>;
  rateLimits?: IdentityLimit[];
  /** Null removes the identity's credits: its keys then spend their own, if any. */
  credits?: CreditSettings | null;
}

export interface IdentityView {
  id: string;
  externalId: string;
  meta: Record<string, unknown> | null;
  rateLimits: IdentityLimit[];
  remaining: number | null;
  refill: CreditSettings["refill"] | null;
  createdAt: string;
}

type IdentityRow = typeof keyIdentities.$inferSelect;

const viewOf = (row: IdentityRow): IdentityView => ({
  id: row.id,
  externalId: row.externalId,
  meta: row.meta,
  rateLimits: row.rateLimits,
  remaining: row.creditsRemaining,
  refill:
    row.creditsRefillAmount === null || row.creditsRefillInterval === null
      ? null
      : { interval: row.creditsRefillInterval, amount: row.creditsRefillAmount },
  createdAt: row.createdAt.toISOString(),
});

/**
 * Creates or changes the identity of `externalId`, with its audit row. Keys already cached keep their old view
 * of it up to the verifier's cache TTL; new credits replace the live count at once (a new credits version).
 */
export async function putIdentity(
  runtime: IdentityRuntime,
  actor: AuditEvent["actor"],
  orgId: string,
  externalId: string,
  settings: IdentitySettings,
  request?: Request,
): Promise<IdentityView> {
  const now = runtime.now();
  const credits = settings.credits === undefined ? {} : creditColumnsOf(settings.credits ?? undefined, now);
  const changes = {
    ...(settings.meta !== undefined && { meta: settings.meta }),
    ...(settings.rateLimits !== undefined && { rateLimits: settings.rateLimits }),
    ...credits,
  };
  const row = await runtime.db.primary.transaction(async (tx) => {
    const [row] = await tx
      .insert(keyIdentities)
      .values({ orgId, externalId, ...changes })
      .onConflictDoUpdate({
        target: [keyIdentities.orgId, keyIdentities.externalId],
        set: {
          ...changes,
          ...(settings.credits !== undefined && { creditsVersion: sql`${keyIdentities.creditsVersion} + 1` }),
        },
      })
      .returning();
    if (row === undefined) throw new Error("upserting an identity returned no row");
    await recordAuditEvent(
      tx,
      {
        action: "key_identity.updated",
        actor,
        orgId,
        target: { type: "key_identity", id: row.id },
        metadata: { externalId, ...settings },
      },
      request,
    );
    return row;
  });
  if (settings.credits != null) {
    // Pushes the new count to the store now; if this fails, instances seed it once they read the new version.
    await runtime.store
      .spendBudget(creditsKeyOf({ kind: "identity", id: row.id }), {
        cost: 0,
        period: row.creditsPeriod,
        refillAmount: row.creditsRefillAmount ?? 0,
        version: row.creditsVersion,
        seed: { remaining: row.creditsRemaining ?? 0, period: row.creditsPeriod },
      })
      .catch((error: unknown) => runtime.logger.warn("identity credits not pushed to the store", { error }));
  }
  return viewOf(row);
}

export async function getIdentity(db: Db, orgId: string, externalId: string): Promise<IdentityView> {
  const [row] = await db
    .select()
    .from(keyIdentities)
    .where(and(eq(keyIdentities.orgId, orgId), eq(keyIdentities.externalId, externalId)));
  if (row === undefined) throw new AppError("NOT_FOUND", "No such identity.");
  return viewOf(row);
}
