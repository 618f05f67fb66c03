/**
 * The second step of a login (a TOTP code, a recovery code or a passkey, against the challenge the password
 * step issued), the password-less passkey sign-in, and step-up: proving who one is again within a session.
 * Wrong codes count toward the account's lock-out (mfa-lockout.ts); a challenge is spent only by a success.
 */
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { and, eq, isNull } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import type { UserCaller } from "../core/caller.ts";
import type { Db } from "../db/database.ts";
import { sessions, users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { type IssuedAccessToken, signAccessToken } from "./access-tokens.ts";
import { findActiveAccountIn, openSignedInSession, type SignedIn } from "./accounts.ts";
import { consumeChallenge, readChallenge } from "./auth-challenges.ts";
import type { IdentityRuntime } from "./identity.ts";
import { secondFactorsOf } from "./mfa-challenge.ts";
import { assertNotLocked, clearWrongCodes, recordWrongCode } from "./mfa-lockout.ts";
import { verifyPasskeyAssertion } from "./passkeys.ts";
import type { PasswordHasher } from "./password-hashing.ts";
import { spendRecoveryCode } from "./recovery-codes.ts";
import { epochSecondsOf } from "./refresh-tokens.ts";
import type { KeyRing } from "./signing-keys.ts";
import { acceptTotpCode } from "./totp.ts";

/** A TOTP code (`pending`: the first one, confirming an enrolment) or a recovery code. */
export type CodeProof = { code: string; pending?: boolean } | { recoveryCode: string };
export interface PasskeyProof {
  ceremonyToken: string;
  response: AuthenticationResponseJSON;
}
export type SignInMethod = "totp" | "recovery_code" | "passkey";

const challengeRefused = () =>
  new AppError("UNAUTHORIZED", "The sign-in challenge is unknown, used or expired: sign in with the password again.");

/** A code for the user, checked in `tx`: the method it proved, or undefined for a wrong or spent one. */
async function acceptCode(
  tx: Db,
  runtime: IdentityRuntime,
  userId: string,
  proof: CodeProof,
  now: number,
  request: Request | undefined,
): Promise<"totp" | "recovery_code" | undefined> {
  if ("code" in proof)
    return (await acceptTotpCode(tx, runtime.services.identity.encryptor, userId, proof.code, now, proof))
      ? "totp"
      : undefined;
  const left = await spendRecoveryCode(tx, userId, proof.recoveryCode, now);
  if (left === undefined) return undefined;
  await recordAuditEvent(
    tx,
    {
      action: "user.mfa.recovery_code_used",
      actor: { type: "user", id: userId },
      target: { type: "user", id: userId },
      metadata: { remaining: left },
    },
    request,
  );
  return "recovery_code";
}

/**
 * Runs `then` in the transaction that accepted the code; a wrong code is counted, after that transaction,
 * toward the lock-out, and answered 401 MFA_CODE_INVALID (429 MFA_LOCKED when it reached the limit).
 */
export async function withCode<T>(
  runtime: IdentityRuntime,
  userId: string,
  proof: CodeProof,
  request: Request | undefined,
  then: (tx: Db, method: "totp" | "recovery_code") => Promise<T>,
): Promise<T> {
  const db = runtime.db.primary;
  const now = runtime.now();
  await assertNotLocked(db, userId, now);
  const outcome = await db.transaction(async (tx) => {
    const method = await acceptCode(tx, runtime, userId, proof, now, request);
    if (method === undefined) return { accepted: false } as const;
    await clearWrongCodes(tx, userId);
    return { accepted: true, value: await then(tx, method) } as const;
  });
  if (outcome.accepted) return outcome.value;
  const lock = await recordWrongCode(db, userId, now);
  if (lock === undefined) throw new AppError("MFA_CODE_INVALID");
  await recordAuditEvent(
    db,
    { action: "user.mfa.locked", actor: { type: "anonymous" }, target: { type: "user", id: userId } },
    request,
  );
  throw lock;
}

/**
 * Opens the session in `tx` once the challenge `token` (for `userId`, when given) is spent there. The ring is
 * loaded before the transaction: loading it inside would wait for a second connection (PGlite has one).
 */
async function signInIn(
  tx: Db,
  runtime: IdentityRuntime,
  ring: KeyRing,
  userId: string,
  method: SignInMethod,
  request: Request | undefined,
  challengeToken?: string,
): Promise<SignedIn> {
  if (challengeToken !== undefined) {
    const spent = await consumeChallenge(tx, "mfa_login", challengeToken, runtime.now());
    if (spent?.userId !== userId) throw challengeRefused();
  }
  const account = await findActiveAccountIn(tx, userId);
  if (account === undefined) throw challengeRefused();
  const opened = await openSignedInSession(
    tx,
    ring,
    runtime.config.auth,
    userId,
    request,
    "user.login.succeeded",
    method,
  );
  return { account, ...opened };
}

/** The second step with a TOTP or recovery code. */
export async function completeMfaWithCode(
  runtime: IdentityRuntime,
  challengeToken: string,
  proof: CodeProof,
  request?: Request,
): Promise<SignedIn> {
  const pending = await readChallenge(runtime.db.primary, "mfa_login", challengeToken, runtime.now());
  if (pending?.userId == null) throw challengeRefused();
  const { userId } = pending;
  const ring = await runtime.services.identity.keyRing.get();
  return withCode(runtime, userId, proof, request, (tx, method) =>
    signInIn(tx, runtime, ring, userId, method, request, challengeToken),
  );
}

/**
 * A passkey sign-in: the second step when `challengeToken` is given (the passkey must be that account's),
 * else password-less (a passkey verifies possession and the user, so it is a sign-in on its own).
 */
export async function signInWithPasskey(
  runtime: IdentityRuntime,
  proof: PasskeyProof,
  challengeToken: string | undefined,
  request?: Request,
): Promise<SignedIn> {
  const ring = await runtime.services.identity.keyRing.get();
  return runtime.db.primary.transaction(async (tx) => {
    const userId = await verifyPasskeyAssertion(tx, runtime, proof);
    return signInIn(tx, runtime, ring, userId, "passkey", request, challengeToken);
  });
}

export type ReauthenticationProof = { password: string } | CodeProof | { passkey: PasskeyProof };

/**
 * Step-up: the caller proves who they are again, and the session's authentication time moves to now. An
 * account with a second factor must use it (a stolen password alone is not enough); one without, its password.
 * @returns an access token carrying the new `auth_time`.
 */
export async function reauthenticate(
  runtime: IdentityRuntime,
  hasher: PasswordHasher,
  caller: UserCaller,
  proof: ReauthenticationProof,
  request?: Request,
): Promise<IssuedAccessToken> {
  const db = runtime.db.primary;
  const { userId, sessionId } = caller;
  const now = runtime.now();
  const ring = await runtime.services.identity.keyRing.get();
  const stamp = async (tx: Db, method: string): Promise<IssuedAccessToken> => {
    const [session] = await tx
      .update(sessions)
      .set({ authenticatedAt: new Date(now) })
      .where(and(eq(sessions.id, sessionId), eq(sessions.userId, userId), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    if (session === undefined) throw new AppError("UNAUTHORIZED");
    await recordAuditEvent(
      tx,
      {
        action: "user.reauthenticated",
        actor: { type: "user", id: userId },
        target: { type: "user", id: userId },
        metadata: { method, sessionId },
      },
      request,
    );
    return signAccessToken(ring, runtime.config.auth, { userId, sessionId, authTime: epochSecondsOf(new Date(now)) });
  };

  const factors = await secondFactorsOf(db, userId);
  if ("passkey" in proof)
    return db.transaction(async (tx) => {
      if ((await verifyPasskeyAssertion(tx, runtime, proof.passkey)) !== userId)
        throw new AppError("UNAUTHORIZED", "The passkey could not be verified.");
      return stamp(tx, "passkey");
    });
  if (!("password" in proof)) return withCode(runtime, userId, proof, request, (tx, method) => stamp(tx, method));
  if (factors.length > 0)
    throw new AppError("FORBIDDEN", "This account has a second factor: confirm with a code or a passkey.");
  const [user] = await db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId));
  // 403, not 401: the access token is fine, and a client must not read this as "signed out".
  if (user === undefined || !(await hasher.verify(proof.password, user.passwordHash)))
    throw new AppError("FORBIDDEN", "The password is incorrect.");
  return db.transaction((tx) => stamp(tx, "password"));
}
