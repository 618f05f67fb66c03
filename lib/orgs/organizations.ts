/** Organizations: creating one (its creator becomes the owner), reading and renaming, with audit events. */
import { eq } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import { orgAuditTag, orgTag } from "../cache/cache-tags.ts";
import { purgeAfterCommit } from "../cache/purge-after-commit.ts";
import type { OrgRole } from "../core/org-roles.ts";
import type { Db } from "../db/database.ts";
import { memberships, organizations } from "../db/schema/index.ts";
import type { Runtime } from "../runtime/runtime.ts";

export interface OrganizationView {
  id: string;
  name: string;
  /** Keys older than this are flagged by the flag-old-api-keys job; null: no limit. */
  apiKeyMaxAgeDays: number | null;
  createdAt: string;
}

export interface OrganizationChanges {
  name?: string;
  apiKeyMaxAgeDays?: number | null;
}

const ORGANIZATION_COLUMNS = {
  id: organizations.id,
  name: organizations.name,
  apiKeyMaxAgeDays: organizations.apiKeyMaxAgeDays,
  createdAt: organizations.createdAt,
};

function viewOf(row: { id: string; name: string; apiKeyMaxAgeDays: number | null; createdAt: Date }): OrganizationView {
  return { id: row.id, name: row.name, apiKeyMaxAgeDays: row.apiKeyMaxAgeDays, createdAt: row.createdAt.toISOString() };
}

/** Row locks the organization for the rest of the transaction: membership changes serialise on it. */
export async function lockOrganization(tx: Db, orgId: string): Promise<boolean> {
  const [row] = await tx
    .select({ id: organizations.id })
    .from(organizations)
    .where(eq(organizations.id, orgId))
    .for("update");
  return row !== undefined;
}

export async function createOrganization(
  runtime: Runtime,
  creatorId: string,
  input: { name: string; apiKeyMaxAgeDays?: number | null },
  request?: Request,
): Promise<OrganizationView> {
  const created = await runtime.db.primary.transaction(async (tx) => {
    const [org] = await tx
      .insert(organizations)
      .values({ name: input.name, apiKeyMaxAgeDays: input.apiKeyMaxAgeDays ?? null })
      .returning(ORGANIZATION_COLUMNS);
    if (org === undefined) throw new Error("inserting an organization returned no row");
    await tx.insert(memberships).values({ orgId: org.id, userId: creatorId, role: "owner" });
    await recordAuditEvent(
      tx,
      {
        action: "org.created",
        actor: { type: "user", id: creatorId },
        orgId: org.id,
        target: { type: "organization", id: org.id },
        metadata: { name: org.name },
      },
      request,
    );
    return viewOf(org);
  });
  await purgeAfterCommit(runtime, [orgAuditTag(created.id)]);
  return created;
}

export async function findOrganization(db: Db, orgId: string): Promise<OrganizationView | undefined> {
  const [org] = await db.select(ORGANIZATION_COLUMNS).from(organizations).where(eq(organizations.id, orgId));
  return org === undefined ? undefined : viewOf(org);
}

export async function listOrganizationsOf(db: Db, userId: string): Promise<(OrganizationView & { role: OrgRole })[]> {
  const rows = await db
    .select({ ...ORGANIZATION_COLUMNS, role: memberships.role })
    .from(memberships)
    .innerJoin(organizations, eq(organizations.id, memberships.orgId))
    .where(eq(memberships.userId, userId))
    .orderBy(organizations.createdAt);
  return rows.map((row) => ({ ...viewOf(row), role: row.role }));
}

export async function updateOrganization(
  runtime: Runtime,
  actor: AuditEvent["actor"],
  orgId: string,
  changes: OrganizationChanges,
  request?: Request,
): Promise<OrganizationView | undefined> {
  const updated = await runtime.db.primary.transaction(async (tx) => {
    const [org] = await tx
      .update(organizations)
      .set(changes)
      .where(eq(organizations.id, orgId))
      .returning(ORGANIZATION_COLUMNS);
    if (org === undefined) return undefined;
    await recordAuditEvent(
      tx,
      { action: "org.updated", actor, orgId, target: { type: "organization", id: orgId }, metadata: { changes } },
      request,
    );
    return viewOf(org);
  });
  if (updated !== undefined) await purgeAfterCommit(runtime, [orgTag(orgId), orgAuditTag(orgId)]);
  return updated;
}
