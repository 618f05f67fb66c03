/**
 * E-mail verification: a link at sign-up, on request, and to the new address of an e-mail change, which takes
 * effect only once that link is followed. A link proves the address it was sent to, for the account it was
 * issued to, and nothing else.
 */
import { and, eq, ne } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { users } from "../db/schema/index.ts";
import type { EmailMessage } from "../email/email-message.ts";
import { mailerOf } from "../email/mailer.ts";
import { verifyEmailMessage } from "../email/templates.ts";
import { AppError } from "../errors/app-error.ts";
import { EMAIL_TOKEN_TTL_MS, issueEmailToken, spendEmailToken } from "./email-tokens.ts";
import type { IdentityRuntime } from "./identity.ts";
import type { PasswordHasher } from "./password-hashing.ts";

/** The same refusal for a wrong, used and expired link: none may be told apart. */
export const invalidLink = () => new AppError("TOKEN_INVALID");

/** The application page a link opens; the token rides in the fragment, which browsers never send to a server. */
export function linkTo(runtime: IdentityRuntime, page: string, token: string): string {
  return `${runtime.config.email.appUrl}/${page}#token=${token}`;
}

/** Issues a verification link for `email` (the account's, or the one it is changing to): the message to send. */
export async function issueVerificationLink(
  runtime: IdentityRuntime,
  db: Db,
  account: { userId: string; email: string },
): Promise<EmailMessage> {
  const token = await issueEmailToken(db, { purpose: "verify_email", ...account }, runtime.now());
  return verifyEmailMessage({
    to: account.email,
    link: linkTo(runtime, "verify-email", token),
    expiresInMinutes: EMAIL_TOKEN_TTL_MS.verify_email / 60_000,
  });
}

/** Issues a verification link and sends it once its token has committed. */
export async function sendVerificationLink(
  runtime: IdentityRuntime,
  account: { userId: string; email: string },
): Promise<void> {
  mailerOf(runtime).send(await issueVerificationLink(runtime, runtime.db.primary, account));
}

/** The account of an address that is not verified yet, for a resend; undefined otherwise. */
export async function findUnverifiedAccount(db: Db, email: string): Promise<{ userId: string } | undefined> {
  const [user] = await db
    .select({ userId: users.id, verifiedAt: users.emailVerifiedAt, disabled: users.disabled })
    .from(users)
    .where(eq(users.email, email));
  return user === undefined || user.disabled || user.verifiedAt !== null ? undefined : { userId: user.userId };
}

/**
 * Spends a verification link: marks the address verified, or, for a change, moves the account to the new
 * address (409 when another account took it meanwhile). Answers the account as it now is.
 */
export async function verifyEmail(
  runtime: IdentityRuntime,
  token: string,
  request?: Request,
): Promise<{ userId: string; email: string; changed: boolean }> {
  const now = runtime.now();
  return runtime.db.primary.transaction(async (tx) => {
    const spent = await spendEmailToken(tx, "verify_email", token, now);
    if (spent === undefined) throw invalidLink();
    const [user] = await tx
      .select({ email: users.email, disabled: users.disabled })
      .from(users)
      .where(eq(users.id, spent.userId))
      .for("update");
    if (user === undefined || user.disabled) throw invalidLink();
    const changed = user.email !== spent.email;
    if (changed) {
      const [taken] = await tx
        .select({ id: users.id })
        .from(users)
        .where(and(eq(users.email, spent.email), ne(users.id, spent.userId)));
      if (taken !== undefined) throw new AppError("CONFLICT", "Another account has this e-mail address now.");
    }
    await tx
      .update(users)
      .set({ email: spent.email, emailVerifiedAt: new Date(now) })
      .where(eq(users.id, spent.userId));
    await recordAuditEvent(
      tx,
      {
        action: changed ? "user.email.changed" : "user.email.verified",
        actor: { type: "user", id: spent.userId },
        target: { type: "user", id: spent.userId },
      },
      request,
    );
    return { userId: spent.userId, email: spent.email, changed };
  });
}

/**
 * Starts an e-mail change: the current password is checked (a stolen access token must not move the account
 * to its thief's address), then a link goes to the new address. The account keeps its address until then.
 */
export async function requestEmailChange(
  runtime: IdentityRuntime,
  hasher: PasswordHasher,
  change: { userId: string; email: string; currentPassword: string },
  request?: Request,
): Promise<void> {
  const db = runtime.db.primary;
  const [user] = await db
    .select({ email: users.email, passwordHash: users.passwordHash, disabled: users.disabled })
    .from(users)
    .where(eq(users.id, change.userId));
  if (user === undefined || user.disabled) throw new AppError("UNAUTHORIZED");
  if (!(await hasher.verify(change.currentPassword, user.passwordHash))) {
    await recordAuditEvent(
      db,
      {
        action: "user.email.change_failed",
        actor: { type: "user", id: change.userId },
        target: { type: "user", id: change.userId },
      },
      request,
    );
    throw new AppError("FORBIDDEN", "The current password is incorrect.");
  }
  if (change.email === user.email) throw new AppError("CONFLICT", "This is already the account's address.");
  const [taken] = await db.select({ id: users.id }).from(users).where(eq(users.email, change.email));
  if (taken !== undefined) throw new AppError("CONFLICT", "An account with this e-mail address already exists.");
  const message = await db.transaction(async (tx) => {
    await recordAuditEvent(
      tx,
      {
        action: "user.email.change_requested",
        actor: { type: "user", id: change.userId },
        target: { type: "user", id: change.userId },
      },
      request,
    );
    return issueVerificationLink(runtime, tx, { userId: change.userId, email: change.email });
  });
  mailerOf(runtime).send(message);
}
