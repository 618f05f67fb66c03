/**
 * Invitations to an organization by e-mail. The link's token is stored only as SHA-256; it can be accepted
 * once, before it expires and unless revoked, by a signed-in account whose verified address is the invited one,
 * or by signing up through it (the link proves the address).
 */
import { and, desc, eq, gt, isNull } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import { openSignedInSession, type SignedIn } from "../auth/accounts.ts";
import { newSingleUseToken } from "../auth/email-tokens.ts";
import { invalidLink, linkTo } from "../auth/email-verification.ts";
import type { PasswordHasher } from "../auth/password-hashing.ts";
import { passwordProblem } from "../auth/password-policy.ts";
import { purgeAfterCommit } from "../cache/purge-after-commit.ts";
import type { OrgRole } from "../core/org-roles.ts";
import { sha256Hex } from "../crypto/sha256.ts";
import type { Db } from "../db/database.ts";
import { memberships, organizations, orgInvitations, users } from "../db/schema/index.ts";
import { mailerOf } from "../email/mailer.ts";
import { invitationMessage } from "../email/templates.ts";
import { AppError } from "../errors/app-error.ts";
import { enqueueWebhookMessage } from "../outbox/webhook-outbox.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { lockAsMember, memberChangeTags, requireOwnerFor } from "./memberships.ts";

export const INVITATION_TTL_MS = 7 * 86_400_000;

export interface InvitationView {
  id: string;
  email: string;
  role: OrgRole;
  invitedBy: string | null;
  createdAt: string;
  expiresAt: string;
  status: "pending" | "accepted" | "revoked" | "expired";
}

const COLUMNS = {
  id: orgInvitations.id,
  email: orgInvitations.email,
  role: orgInvitations.role,
  invitedBy: orgInvitations.invitedBy,
  createdAt: orgInvitations.createdAt,
  expiresAt: orgInvitations.expiresAt,
  acceptedAt: orgInvitations.acceptedAt,
  revokedAt: orgInvitations.revokedAt,
};

type InvitationRow = Pick<
  typeof orgInvitations.$inferSelect,
  "id" | "email" | "role" | "invitedBy" | "createdAt" | "expiresAt" | "acceptedAt" | "revokedAt"
>;

function statusOf(row: InvitationRow, nowMs: number): InvitationView["status"] {
  if (row.acceptedAt !== null) return "accepted";
  if (row.revokedAt !== null) return "revoked";
  return row.expiresAt.getTime() <= nowMs ? "expired" : "pending";
}

function viewOf(row: InvitationRow, nowMs: number): InvitationView {
  return {
    id: row.id,
    email: row.email,
    role: row.role,
    invitedBy: row.invitedBy,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    status: statusOf(row, nowMs),
  };
}

const pending = (nowMs: number) =>
  and(
    isNull(orgInvitations.acceptedAt),
    isNull(orgInvitations.revokedAt),
    gt(orgInvitations.expiresAt, new Date(nowMs)),
  );

/** Invites `email` with `role` (only an owner invites an owner) and mails the link once it has committed. */
export async function inviteMember(
  runtime: Runtime,
  actorId: string,
  orgId: string,
  invite: { email: string; role: OrgRole },
  request?: Request,
): Promise<InvitationView> {
  const now = runtime.now();
  const { token, tokenHash } = newSingleUseToken();
  const { view, orgName, inviterEmail } = await runtime.db.primary.transaction(async (tx) => {
    requireOwnerFor(await lockAsMember(tx, orgId, actorId, "admin"), invite.role);
    const [member] = await tx
      .select({ id: users.id })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(and(eq(memberships.orgId, orgId), eq(users.email, invite.email)));
    if (member !== undefined) throw new AppError("CONFLICT", "This address already belongs to a member.");
    // One live invitation per address: a new one replaces the old, whose link stops working.
    await tx
      .update(orgInvitations)
      .set({ revokedAt: new Date(now) })
      .where(and(eq(orgInvitations.orgId, orgId), eq(orgInvitations.email, invite.email), pending(now)));
    const [row] = await tx
      .insert(orgInvitations)
      .values({ orgId, ...invite, tokenHash, invitedBy: actorId, expiresAt: new Date(now + INVITATION_TTL_MS) })
      .returning(COLUMNS);
    if (row === undefined) throw new Error("inserting an invitation returned no row");
    await recordAuditEvent(
      tx,
      {
        action: "org.invitation.created",
        actor: { type: "user", id: actorId },
        orgId,
        target: { type: "invitation", id: row.id },
        metadata: { role: invite.role },
      },
      request,
    );
    const [names] = await tx
      .select({ orgName: organizations.name, inviterEmail: users.email })
      .from(organizations)
      .innerJoin(users, eq(users.id, actorId))
      .where(eq(organizations.id, orgId));
    return { view: viewOf(row, now), orgName: names?.orgName ?? "", inviterEmail: names?.inviterEmail };
  });
  mailerOf(runtime).send(
    invitationMessage({
      to: invite.email,
      link: linkTo(runtime, "accept-invitation", token),
      expiresInMinutes: INVITATION_TTL_MS / 60_000,
      orgName,
      role: invite.role,
      inviterEmail,
    }),
  );
  await purgeAfterCommit(runtime, memberChangeTags(orgId));
  return view;
}

export async function listInvitations(db: Db, orgId: string, nowMs: number): Promise<InvitationView[]> {
  const rows = await db
    .select(COLUMNS)
    .from(orgInvitations)
    .where(eq(orgInvitations.orgId, orgId))
    .orderBy(desc(orgInvitations.createdAt))
    .limit(100);
  return rows.map((row) => viewOf(row, nowMs));
}

/** Revokes a pending invitation; 404 for one that is not pending in this organization. */
export async function revokeInvitation(
  runtime: Runtime,
  actorId: string,
  orgId: string,
  invitationId: string,
  request?: Request,
): Promise<void> {
  const now = runtime.now();
  await runtime.db.primary.transaction(async (tx) => {
    await lockAsMember(tx, orgId, actorId, "admin");
    const [row] = await tx
      .update(orgInvitations)
      .set({ revokedAt: new Date(now) })
      .where(and(eq(orgInvitations.id, invitationId), eq(orgInvitations.orgId, orgId), pending(now)))
      .returning({ id: orgInvitations.id });
    if (row === undefined) throw new AppError("NOT_FOUND", "No such pending invitation.");
    await recordAuditEvent(
      tx,
      {
        action: "org.invitation.revoked",
        actor: { type: "user", id: actorId },
        orgId,
        target: { type: "invitation", id: invitationId },
      },
      request,
    );
  });
  await purgeAfterCommit(runtime, memberChangeTags(orgId));
}

interface Spent {
  id: string;
  orgId: string;
  email: string;
  role: OrgRole;
}

/** Spends a pending invitation under a row lock; the same refusal for a wrong, used, revoked or expired one. */
async function spendInvitation(tx: Db, token: string, nowMs: number, acceptedBy?: string): Promise<Spent> {
  const [row] = await tx
    .update(orgInvitations)
    .set({ acceptedAt: new Date(nowMs), acceptedBy: acceptedBy ?? null })
    .where(and(eq(orgInvitations.tokenHash, sha256Hex(token)), pending(nowMs)))
    .returning({
      id: orgInvitations.id,
      orgId: orgInvitations.orgId,
      email: orgInvitations.email,
      role: orgInvitations.role,
    });
  if (row === undefined) throw invalidLink();
  return row;
}

async function joinThrough(runtime: Runtime, tx: Db, invitation: Spent, userId: string, request?: Request) {
  const [added] = await tx
    .insert(memberships)
    .values({ orgId: invitation.orgId, userId, role: invitation.role })
    .onConflictDoNothing()
    .returning({ joinedAt: memberships.createdAt });
  if (added === undefined) throw new AppError("CONFLICT", "This account is already a member.");
  const actor = { type: "user", id: userId } as const;
  const orgId = invitation.orgId;
  await recordAuditEvent(
    tx,
    { action: "org.invitation.accepted", actor, orgId, target: { type: "invitation", id: invitation.id } },
    request,
  );
  await recordAuditEvent(
    tx,
    {
      action: "org.member.added",
      actor,
      orgId,
      target: { type: "user", id: userId },
      metadata: { role: invitation.role, invitationId: invitation.id },
    },
    request,
  );
  await enqueueWebhookMessage(
    tx,
    { orgId, type: "member.added", data: { userId, role: invitation.role } },
    runtime.now(),
  );
  return { orgId, role: invitation.role, joinedAt: added.joinedAt.toISOString() };
}

/**
 * Accepts for a signed-in account: its address must be the invited one and verified. A mismatch leaves the
 * invitation pending, for the account it was meant for.
 */
export async function acceptInvitation(
  runtime: Runtime,
  userId: string,
  token: string,
  request?: Request,
): Promise<{ orgId: string; role: OrgRole; joinedAt: string }> {
  const now = runtime.now();
  const joined = await runtime.db.primary.transaction(async (tx) => {
    const invitation = await spendInvitation(tx, token, now, userId);
    const [user] = await tx
      .select({ email: users.email, verifiedAt: users.emailVerifiedAt })
      .from(users)
      .where(eq(users.id, userId));
    if (user === undefined || user.email !== invitation.email)
      throw new AppError("FORBIDDEN", "This invitation is for another e-mail address.");
    if (user.verifiedAt === null) throw new AppError("EMAIL_NOT_VERIFIED");
    return joinThrough(runtime, tx, invitation, userId, request);
  });
  await purgeAfterCommit(runtime, memberChangeTags(joined.orgId));
  return joined;
}

/** Creates the invited account (its address verified by the link), joins it, and signs it in. */
export async function signUpWithInvitation(
  runtime: Runtime,
  hasher: PasswordHasher,
  input: { token: string; password: string },
  request?: Request,
): Promise<SignedIn & { membership: { orgId: string; role: OrgRole; joinedAt: string } }> {
  const db = runtime.db.primary;
  const now = runtime.now();
  const [invited] = await db
    .select({ email: orgInvitations.email })
    .from(orgInvitations)
    .where(and(eq(orgInvitations.tokenHash, sha256Hex(input.token)), pending(now)));
  if (invited === undefined) throw invalidLink();
  const problem = passwordProblem(input.password, invited.email);
  if (problem !== undefined)
    throw new AppError("VALIDATION_FAILED", undefined, {
      fields: [{ path: "password", message: `password ${problem}` }],
    });
  const passwordHash = await hasher.hash(input.password);
  const ring = await runtime.services.identity.keyRing.get();
  const signedIn = await db.transaction(async (tx) => {
    const invitation = await spendInvitation(tx, input.token, now);
    const [account] = await tx
      .insert(users)
      .values({ email: invitation.email, passwordHash, emailVerifiedAt: new Date(now) })
      .onConflictDoNothing({ target: users.email })
      .returning({ id: users.id, email: users.email, createdAt: users.createdAt });
    if (account === undefined)
      throw new AppError("CONFLICT", "An account with this address exists: sign in and accept the invitation.");
    await tx.update(orgInvitations).set({ acceptedBy: account.id }).where(eq(orgInvitations.id, invitation.id));
    const session = await openSignedInSession(tx, ring, runtime.config.auth, account.id, request, "user.signup");
    const membership = await joinThrough(runtime, tx, invitation, account.id, request);
    return { account, ...session, membership };
  });
  await purgeAfterCommit(runtime, memberChangeTags(signedIn.membership.orgId));
  return signedIn;
}
