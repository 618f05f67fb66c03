/**
 * Organization members and their roles. Only an owner may grant, change or take away the owner role, and
 * the last owner can be neither demoted nor removed: changes run under a lock on the organization row,
 * so two owners demoting each other at once cannot leave it ownerless.
 */
import { and, count, eq } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import { orgNotFound } from "../auth/org-access.ts";
import { orgAuditTag, orgMembersTag } from "../cache/cache-tags.ts";
import { purgeAfterCommit } from "../cache/purge-after-commit.ts";
import { type OrgRole, roleAtLeast } from "../core/org-roles.ts";
import type { Db } from "../db/database.ts";
import { memberships, users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { enqueueWebhookMessage } from "../outbox/webhook-outbox.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { lockOrganization } from "./organizations.ts";

export interface MemberView {
  userId: string;
  email: string;
  role: OrgRole;
  joinedAt: string;
}

/** `email` arrives normalised (lib/auth/credentials.ts). */
export type NewMember = ({ userId: string } | { email: string }) & { role: OrgRole };

const memberNotFound = () => new AppError("NOT_FOUND", "No such member.");
const lastOwner = () => new AppError("CONFLICT", "The organization's last owner cannot be removed or demoted.");

export function requireOwnerFor(actorRole: OrgRole, ...roles: OrgRole[]): void {
  if (roles.includes("owner") && actorRole !== "owner")
    throw new AppError("FORBIDDEN", "Only an owner may grant or change the owner role.");
}

async function roleOf(tx: Db, orgId: string, userId: string): Promise<OrgRole | undefined> {
  const [row] = await tx
    .select({ role: memberships.role })
    .from(memberships)
    .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)));
  return row?.role;
}

async function ownerCount(tx: Db, orgId: string): Promise<number> {
  const [row] = await tx
    .select({ owners: count() })
    .from(memberships)
    .where(and(eq(memberships.orgId, orgId), eq(memberships.role, "owner")));
  return row?.owners ?? 0;
}

/** Locks the organization and reads the actor's role under the lock, so a concurrent demotion is seen. */
export async function lockAsMember(tx: Db, orgId: string, actorId: string, minimumRole: OrgRole): Promise<OrgRole> {
  const role = (await lockOrganization(tx, orgId)) ? await roleOf(tx, orgId, actorId) : undefined;
  if (role === undefined) throw orgNotFound();
  if (!roleAtLeast(role, minimumRole))
    throw new AppError("FORBIDDEN", `This needs the ${minimumRole} role in the organization.`);
  return role;
}

/** What a change to an organization's members makes stale: its member list and its audit log. */
export const memberChangeTags = (orgId: string) => [orgMembersTag(orgId), orgAuditTag(orgId)];

export async function listMembers(db: Db, orgId: string): Promise<MemberView[]> {
  const rows = await db
    .select({ userId: memberships.userId, email: users.email, role: memberships.role, joinedAt: memberships.createdAt })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(eq(memberships.orgId, orgId))
    .orderBy(memberships.createdAt, memberships.userId);
  return rows.map((row) => ({ ...row, joinedAt: row.joinedAt.toISOString() }));
}

export async function addMember(
  runtime: Runtime,
  actorId: string,
  orgId: string,
  member: NewMember,
  request?: Request,
): Promise<MemberView> {
  const added = await runtime.db.primary.transaction(async (tx) => {
    requireOwnerFor(await lockAsMember(tx, orgId, actorId, "admin"), member.role);
    const [user] = await tx
      .select({ id: users.id, email: users.email })
      .from(users)
      .where("userId" in member ? eq(users.id, member.userId) : eq(users.email, member.email));
    if (user === undefined) throw new AppError("NOT_FOUND", "No such user.");
    const [added] = await tx
      .insert(memberships)
      .values({ orgId, userId: user.id, role: member.role })
      .onConflictDoNothing()
      .returning({ joinedAt: memberships.createdAt });
    if (added === undefined) throw new AppError("CONFLICT", "This user is already a member.");
    await recordAuditEvent(
      tx,
      {
        action: "org.member.added",
        actor: { type: "user", id: actorId },
        orgId,
        target: { type: "user", id: user.id },
        metadata: { role: member.role },
      },
      request,
    );
    const data = { userId: user.id, role: member.role };
    await enqueueWebhookMessage(tx, { orgId, type: "member.added", data }, runtime.now());
    return { userId: user.id, email: user.email, role: member.role, joinedAt: added.joinedAt.toISOString() };
  });
  await purgeAfterCommit(runtime, memberChangeTags(orgId));
  return added;
}

export async function changeMemberRole(
  runtime: Runtime,
  actorId: string,
  orgId: string,
  userId: string,
  role: OrgRole,
  request?: Request,
): Promise<{ userId: string; role: OrgRole }> {
  const changed = await runtime.db.primary.transaction(async (tx) => {
    const actorRole = await lockAsMember(tx, orgId, actorId, "admin");
    const current = await roleOf(tx, orgId, userId);
    if (current === undefined) throw memberNotFound();
    requireOwnerFor(actorRole, current, role);
    if (current === role) return { userId, role };
    if (current === "owner" && (await ownerCount(tx, orgId)) <= 1) throw lastOwner();
    await tx
      .update(memberships)
      .set({ role })
      .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)));
    await recordAuditEvent(
      tx,
      {
        action: "org.member.role_changed",
        actor: { type: "user", id: actorId },
        orgId,
        target: { type: "user", id: userId },
        metadata: { from: current, to: role },
      },
      request,
    );
    const data = { userId, from: current, to: role };
    await enqueueWebhookMessage(tx, { orgId, type: "member.role_changed", data }, runtime.now());
    return { userId, role };
  });
  await purgeAfterCommit(runtime, memberChangeTags(orgId));
  return changed;
}

/** Admins remove others; any member may leave. */
export async function removeMember(
  runtime: Runtime,
  actorId: string,
  orgId: string,
  userId: string,
  request?: Request,
): Promise<void> {
  await runtime.db.primary.transaction(async (tx) => {
    const leaving = userId === actorId;
    const actorRole = await lockAsMember(tx, orgId, actorId, leaving ? "member" : "admin");
    const current = await roleOf(tx, orgId, userId);
    if (current === undefined) throw memberNotFound();
    if (!leaving) requireOwnerFor(actorRole, current);
    if (current === "owner" && (await ownerCount(tx, orgId)) <= 1) throw lastOwner();
    await tx.delete(memberships).where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)));
    await recordAuditEvent(
      tx,
      {
        action: "org.member.removed",
        actor: { type: "user", id: actorId },
        orgId,
        target: { type: "user", id: userId },
        metadata: { role: current },
      },
      request,
    );
    const data = { userId, role: current };
    await enqueueWebhookMessage(tx, { orgId, type: "member.removed", data }, runtime.now());
  });
  await purgeAfterCommit(runtime, memberChangeTags(orgId));
}
