/**
 * Which second factors an account has, and the challenge a correct password earns when it has one. Kept free
 * of otpauth and WebAuthn: the login route loads this, and pays their import on no cold start.
 */
import { and, eq, isNotNull } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { passkeys, userTotp } from "../db/schema/index.ts";
import { type IssuedChallenge, issueChallenge } from "./auth-challenges.ts";
import type { IdentityRuntime } from "./identity.ts";

export type SecondFactor = "totp" | "passkey";

/** Whether the user has a confirmed TOTP. */
export async function hasConfirmedTotp(db: Db, userId: string): Promise<boolean> {
  const [row] = await db
    .select({ userId: userTotp.userId })
    .from(userTotp)
    .where(and(eq(userTotp.userId, userId), isNotNull(userTotp.confirmedAt)));
  return row !== undefined;
}

export async function secondFactorsOf(db: Db, userId: string): Promise<SecondFactor[]> {
  const [totp, keys] = await Promise.all([
    hasConfirmedTotp(db, userId),
    db.select({ id: passkeys.id }).from(passkeys).where(eq(passkeys.userId, userId)).limit(1),
  ]);
  return [...(totp ? (["totp"] as const) : []), ...(keys.length > 0 ? (["passkey"] as const) : [])];
}

/** The challenge token of a login's second step, audited: the password was right, no session is open yet. */
export async function startMfaSignIn(
  runtime: IdentityRuntime,
  userId: string,
  request?: Request,
): Promise<{ challengeToken: string; expiresIn: number }> {
  const db = runtime.db.primary;
  const { token, expiresIn }: IssuedChallenge = await db.transaction(async (tx) => {
    const issued = await issueChallenge(tx, "mfa_login", { userId, challenge: null }, runtime.now());
    await recordAuditEvent(
      tx,
      { action: "user.login.mfa_required", actor: { type: "user", id: userId }, target: { type: "user", id: userId } },
      request,
    );
    return issued;
  });
  return { challengeToken: token, expiresIn };
}
