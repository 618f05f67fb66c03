/**
 * Password reset by e-mail. A request answers the same whatever the address: the lookup, a token and the audit
 * row are the only work, and the message goes out after the answer. Spending a link sets the password, revokes
 * every session of the account (and with them every refresh family) and proves the address.
 */
import { and, eq, isNull } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import { sha256Hex } from "../crypto/sha256.ts";
import { emailTokens, users } from "../db/schema/index.ts";
import { mailerOf } from "../email/mailer.ts";
import { passwordResetMessage } from "../email/templates.ts";
import { AppError } from "../errors/app-error.ts";
import { EMAIL_TOKEN_TTL_MS, issueEmailToken, spendEmailToken } from "./email-tokens.ts";
import { invalidLink, linkTo } from "./email-verification.ts";
import type { IdentityRuntime } from "./identity.ts";
import type { PasswordHasher } from "./password-hashing.ts";
import { passwordProblem } from "./password-policy.ts";
import { publishRevocations, revokeSessionsIn } from "./sessions.ts";

/**
 * Sends a reset link when `email` names an active account and `mayMail` (the per-account limit) agrees.
 * Refusals are silent: the caller answers the same either way.
 */
export async function requestPasswordReset(
  runtime: IdentityRuntime,
  email: string,
  mayMail: (userId: string) => Promise<boolean>,
  request?: Request,
): Promise<void> {
  const db = runtime.db.primary;
  const [user] = await db.select({ id: users.id, disabled: users.disabled }).from(users).where(eq(users.email, email));
  const account = user === undefined || user.disabled ? undefined : user.id;
  const mailed = account !== undefined && (await mayMail(account));
  const token = await db.transaction(async (tx) => {
    await recordAuditEvent(
      tx,
      {
        action: "user.password.reset_requested",
        actor: { type: "anonymous" },
        target: account === undefined ? undefined : { type: "user", id: account },
        metadata: { mailed },
      },
      request,
    );
    return mailed
      ? issueEmailToken(tx, { purpose: "reset_password", userId: account, email }, runtime.now())
      : undefined;
  });
  if (token !== undefined)
    mailerOf(runtime).send(
      passwordResetMessage({
        to: email,
        link: linkTo(runtime, "reset-password", token),
        expiresInMinutes: EMAIL_TOKEN_TTL_MS.reset_password / 60_000,
      }),
    );
}

/** The account a live reset link belongs to, without spending it: a new password the policy refuses keeps it. */
async function accountOfResetLink(runtime: IdentityRuntime, token: string): Promise<{ id: string; email: string }> {
  const [row] = await runtime.db.primary
    .select({ id: users.id, email: users.email, linkEmail: emailTokens.email, disabled: users.disabled })
    .from(emailTokens)
    .innerJoin(users, eq(users.id, emailTokens.userId))
    .where(
      and(
        eq(emailTokens.tokenHash, sha256Hex(token)),
        eq(emailTokens.purpose, "reset_password"),
        isNull(emailTokens.usedAt),
      ),
    );
  // A link sent before the address changed no longer belongs to it.
  if (row === undefined || row.disabled || row.linkEmail !== row.email) throw invalidLink();
  return row;
}

/** Sets the new password, revokes every session, and answers how many were revoked. */
export async function resetPassword(
  runtime: IdentityRuntime,
  hasher: PasswordHasher,
  reset: { token: string; newPassword: string },
  request?: Request,
): Promise<{ revokedSessions: number }> {
  const account = await accountOfResetLink(runtime, reset.token);
  const problem = passwordProblem(reset.newPassword, account.email);
  if (problem !== undefined)
    throw new AppError("VALIDATION_FAILED", undefined, {
      fields: [{ path: "newPassword", message: `newPassword ${problem}` }],
    });
  const passwordHash = await hasher.hash(reset.newPassword);
  const now = runtime.now();
  const revoked = await runtime.db.primary.transaction(async (tx) => {
    // Spent here, under its expiry and once only: a second use racing this one finds it used.
    const spent = await spendEmailToken(tx, "reset_password", reset.token, now);
    if (spent === undefined || spent.userId !== account.id) throw invalidLink();
    const [updated] = await tx
      .update(users)
      .set({ passwordHash, passwordChangedAt: new Date(now), emailVerifiedAt: new Date(now) })
      .where(and(eq(users.id, account.id), eq(users.email, spent.email), eq(users.disabled, false)))
      .returning({ id: users.id });
    if (updated === undefined) throw invalidLink();
    const { sessionIds } = await revokeSessionsIn(tx, { userId: account.id }, "password_reset", now);
    await recordAuditEvent(
      tx,
      {
        action: "user.password.reset",
        actor: { type: "user", id: account.id },
        target: { type: "user", id: account.id },
        metadata: { revokedSessions: sessionIds.length },
      },
      request,
    );
    return sessionIds;
  });
  await publishRevocations(runtime, revoked);
  return { revokedSessions: revoked.length };
}
