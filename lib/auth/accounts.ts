/**
 * Accounts: signing up, logging in, changing the password and disabling, each with its audit event.
 * E-mail addresses arrive normalised (credentials.ts); no password or token ever reaches an audit row.
 */
import { eq } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { AuthConfig } from "../config/config.ts";
import type { Db } from "../db/database.ts";
import { users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { type IssuedAccessToken, signAccessToken } from "./access-tokens.ts";
import type { IdentityRuntime } from "./identity.ts";
import { type SecondFactor, secondFactorsOf, startMfaSignIn } from "./mfa-challenge.ts";
import type { PasswordHasher } from "./password-hashing.ts";
import { passwordProblem } from "./password-policy.ts";
import { epochSecondsOf, type IssuedSession, startSession } from "./refresh-tokens.ts";
import { publishRevocations, revokeSessionsIn } from "./sessions.ts";
import type { KeyRing } from "./signing-keys.ts";

export interface Account {
  id: string;
  email: string;
  createdAt: Date;
}

export interface Credentials {
  /** Normalised: trimmed and lower-cased. */
  email: string;
  password: string;
}

export interface SignedIn {
  account: Account;
  session: IssuedSession;
  accessToken: IssuedAccessToken;
}

// One answer for an unknown e-mail, a wrong password and a disabled account: none may be told apart.
export const INVALID_CREDENTIALS_MESSAGE = "The e-mail address or password is incorrect.";

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const ACCOUNT_COLUMNS = { id: users.id, email: users.email, createdAt: users.createdAt };

/** The answer to a correct password on an account with a second factor: no session yet, a challenge. */
export interface MfaRequired {
  mfaRequired: true;
  /** Single-use, short-lived, good only for the second step (never a bearer token). */
  challengeToken: string;
  expiresIn: number;
  methods: SecondFactor[];
}

/**
 * A new session for `userId` and its access token, inside the caller's transaction, with the audit row
 * `action` names (none when the caller's own row covers it). Signed before commit: a session is never
 * opened without the tokens that use it reaching the client. `method` is how the user signed in.
 */
export async function openSignedInSession(
  tx: Db,
  ring: KeyRing,
  auth: AuthConfig,
  userId: string,
  request: Request | undefined,
  action?: "user.signup" | "user.login.succeeded",
  method: "password" | SecondFactor | "recovery_code" = "password",
): Promise<Omit<SignedIn, "account">> {
  const now = new Date();
  const session = await startSession(tx, auth, userId, request, now);
  if (action !== undefined)
    await recordAuditEvent(
      tx,
      {
        action,
        actor: { type: "user", id: userId },
        target: { type: "user", id: userId },
        metadata: { sessionId: session.sessionId, method },
      },
      request,
    );
  const subject = { userId, sessionId: session.sessionId, authTime: epochSecondsOf(now) };
  return { session, accessToken: await signAccessToken(ring, auth, subject) };
}

/**
 * The account, its session, the audit row and the access token in one transaction: a failure at any step
 * (an undecryptable signing key included) leaves no account behind for a retry to answer 409 against.
 */
export async function signUp(
  runtime: IdentityRuntime,
  hasher: PasswordHasher,
  credentials: Credentials,
  request?: Request,
): Promise<SignedIn> {
  const { auth } = runtime.config;
  const passwordHash = await hasher.hash(credentials.password);
  const ring = await runtime.services.identity.keyRing.get();
  return runtime.db.primary.transaction(async (tx) => {
    const [account] = await tx
      .insert(users)
      .values({ email: credentials.email, passwordHash })
      .onConflictDoNothing({ target: users.email })
      .returning(ACCOUNT_COLUMNS);
    if (account === undefined) throw new AppError("CONFLICT", "An account with this e-mail address already exists.");
    const { session, accessToken } = await openSignedInSession(tx, ring, auth, account.id, request, "user.signup");
    return { account, session, accessToken };
  });
}

/**
 * Checks the password and opens a session, or, for an account with a second factor, issues the challenge its
 * second step takes. Every refusal does the same work (an unknown e-mail is verified against a dummy hash of the
 * same cost, a disabled account's password is still checked) and the same audit write.
 */
export async function logIn(
  runtime: IdentityRuntime,
  hasher: PasswordHasher,
  credentials: Credentials,
  request?: Request,
): Promise<SignedIn | MfaRequired> {
  const db = runtime.db.primary;
  const [user] = await db
    .select({
      ...ACCOUNT_COLUMNS,
      passwordHash: users.passwordHash,
      disabled: users.disabled,
      emailVerifiedAt: users.emailVerifiedAt,
    })
    .from(users)
    .where(eq(users.email, credentials.email));
  const matches =
    user === undefined
      ? await hasher.verifyAgainstDummy(credentials.password)
      : await hasher.verify(credentials.password, user.passwordHash);
  if (user === undefined || !matches || user.disabled) {
    const reason = user === undefined ? "unknown_email" : matches ? "disabled" : "wrong_password";
    const target: AuditEvent["target"] = user === undefined ? undefined : { type: "user", id: user.id };
    await recordAuditEvent(
      db,
      { action: "user.login.failed", actor: { type: "anonymous" }, target, metadata: { reason } },
      request,
    );
    throw new AppError("UNAUTHORIZED", INVALID_CREDENTIALS_MESSAGE);
  }
  // Told only to whoever proved the password, so it reveals nothing about the address to anyone else.
  if (runtime.config.email.verificationRequired && user.emailVerifiedAt === null) {
    await recordAuditEvent(
      db,
      {
        action: "user.login.failed",
        actor: { type: "anonymous" },
        target: { type: "user", id: user.id },
        metadata: { reason: "email_unverified" },
      },
      request,
    );
    throw new AppError("EMAIL_NOT_VERIFIED");
  }
  // Raising DEFAULT_PASSWORD_HASHING upgrades each stored hash at its owner's next login.
  const upgradedHash = hasher.needsRehash(user.passwordHash) ? await hasher.hash(credentials.password) : undefined;
  const account = { id: user.id, email: user.email, createdAt: user.createdAt };
  const methods = await secondFactorsOf(db, user.id);
  if (methods.length > 0) {
    if (upgradedHash !== undefined)
      await db.update(users).set({ passwordHash: upgradedHash }).where(eq(users.id, user.id));
    return { mfaRequired: true, ...(await startMfaSignIn(runtime, user.id, request)), methods };
  }
  const ring = await runtime.services.identity.keyRing.get();
  return db.transaction(async (tx) => {
    if (upgradedHash !== undefined)
      await tx.update(users).set({ passwordHash: upgradedHash }).where(eq(users.id, user.id));
    const { session, accessToken } = await openSignedInSession(
      tx,
      ring,
      runtime.config.auth,
      account.id,
      request,
      "user.login.succeeded",
    );
    return { account, session, accessToken };
  });
}

export function findActiveAccount(runtime: IdentityRuntime, userId: string): Promise<Account | undefined> {
  return findActiveAccountIn(runtime.db.primary, userId);
}

/** The account of `userId` unless it is missing or disabled, read through `db` (a transaction, say). */
export async function findActiveAccountIn(db: Db, userId: string): Promise<Account | undefined> {
  const [user] = await db
    .select({ ...ACCOUNT_COLUMNS, disabled: users.disabled })
    .from(users)
    .where(eq(users.id, userId));
  return user === undefined || user.disabled
    ? undefined
    : { id: user.id, email: user.email, createdAt: user.createdAt };
}

const invalidNewPassword = (message: string) =>
  new AppError("VALIDATION_FAILED", undefined, {
    fields: [{ path: "newPassword", message: `newPassword ${message}` }],
  });

/**
 * Replaces the password after checking the current one, revokes every session of the account (the
 * caller's too: a thief's session must not survive) and opens a fresh one for the caller, who just proved
 * the password.
 */
export async function changePassword(
  runtime: IdentityRuntime,
  hasher: PasswordHasher,
  change: { userId: string; currentPassword: string; newPassword: string },
  request?: Request,
): Promise<SignedIn> {
  const db = runtime.db.primary;
  const [user] = await db
    .select({ ...ACCOUNT_COLUMNS, passwordHash: users.passwordHash, disabled: users.disabled })
    .from(users)
    .where(eq(users.id, change.userId));
  if (user === undefined || user.disabled) throw new AppError("UNAUTHORIZED");
  const problem = passwordProblem(change.newPassword, user.email);
  if (problem !== undefined) throw invalidNewPassword(problem);
  if (change.newPassword === change.currentPassword) throw invalidNewPassword("must differ from the current password");
  if (!(await hasher.verify(change.currentPassword, user.passwordHash))) {
    await recordAuditEvent(
      db,
      {
        action: "user.password.change_failed",
        actor: { type: "user", id: user.id },
        target: { type: "user", id: user.id },
      },
      request,
    );
    // 403, not 401: the access token is fine, and a client must not read this as "signed out".
    throw new AppError("FORBIDDEN", "The current password is incorrect.");
  }
  const passwordHash = await hasher.hash(change.newPassword);
  const ring = await runtime.services.identity.keyRing.get();
  // All or nothing: a failure must not leave the password changed and every session revoked with no new one.
  const { revoked, ...signedIn } = await db.transaction(async (tx) => {
    await tx.update(users).set({ passwordHash, passwordChangedAt: new Date() }).where(eq(users.id, user.id));
    const { sessionIds: revoked } = await revokeSessionsIn(tx, { userId: user.id }, "password_changed", runtime.now());
    await recordAuditEvent(
      tx,
      {
        action: "user.password.changed",
        actor: { type: "user", id: user.id },
        target: { type: "user", id: user.id },
        metadata: { revokedSessions: revoked.length },
      },
      request,
    );
    // Its audit row is the password change's, written above.
    const { session, accessToken } = await openSignedInSession(tx, ring, runtime.config.auth, user.id, request);
    return { revoked, account: { id: user.id, email: user.email, createdAt: user.createdAt }, session, accessToken };
  });
  await publishRevocations(runtime, revoked);
  return signedIn;
}

/** Disables an account: it can no longer log in, and every session and access token it holds stops working. */
export async function disableUser(
  runtime: IdentityRuntime,
  userId: string,
  actor: AuditEvent["actor"],
  request?: Request,
): Promise<{ revokedSessions: number }> {
  if (!UUID.test(userId)) throw new AppError("NOT_FOUND", "No such user.");
  const revoked = await runtime.db.primary.transaction(async (tx) => {
    const [user] = await tx
      .update(users)
      .set({ disabled: true })
      .where(eq(users.id, userId))
      .returning({ id: users.id });
    if (user === undefined) throw new AppError("NOT_FOUND", "No such user.");
    const { sessionIds: ids } = await revokeSessionsIn(tx, { userId }, "user_disabled", runtime.now());
    await recordAuditEvent(
      tx,
      {
        action: "user.disabled",
        actor,
        target: { type: "user", id: userId },
        metadata: { revokedSessions: ids.length },
      },
      request,
    );
    return ids;
  });
  // Access tokens stop once the disabling has committed with its row; refresh tokens already have.
  await publishRevocations(runtime, revoked);
  return { revokedSessions: revoked.length };
}
