/**
 * Turns a verified provider identity into a Rampart session, the same sessions and refresh tokens a password
 * login opens. Identities are looked up by (issuer, subject), never by e-mail; an e-mail only links a new
 * identity to an existing account when the provider says it verified the address and the account has it
 * verified too. Anything else is refused, never linked: a provider account with someone else's unverified
 * address must not become a way into theirs.
 */
import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import { ACCOUNT_COLUMNS, type Account, openSignedInSession, type SignedIn } from "../auth/accounts.ts";
import type { IdentityRuntime } from "../auth/identity.ts";
import type { PasswordHasher } from "../auth/password-hashing.ts";
import type { Db } from "../db/database.ts";
import { oidcIdentities, users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import type { VerifiedIdentity } from "./provider-client.ts";

/** How the account was reached, for the response and the audit trail. */
export type OidcOutcome = "signed_in" | "linked" | "created";

const PROVIDER_UNVERIFIED =
  "The identity provider has not verified this e-mail address; verify it there, then start the sign-in again.";

/** Signs in, links or creates the account `identity` names, with the audit rows; throws the typed refusal. */
export async function signInWithIdentity(
  runtime: IdentityRuntime,
  hasher: PasswordHasher,
  provider: string,
  identity: VerifiedIdentity,
  request?: Request,
): Promise<SignedIn & { outcome: OidcOutcome }> {
  const db = runtime.db.primary;
  const method = { method: "oidc" as const, provider };
  const refuse = async (reason: string, target: AuditEvent["target"], error: AppError): Promise<never> => {
    await recordAuditEvent(
      db,
      { action: "user.login.failed", actor: { type: "anonymous" }, target, metadata: { ...method, reason } },
      request,
    );
    throw error;
  };

  const [linked] = await db
    .select({ ...ACCOUNT_COLUMNS, disabled: users.disabled })
    .from(oidcIdentities)
    .innerJoin(users, eq(users.id, oidcIdentities.userId))
    .where(and(eq(oidcIdentities.issuer, identity.issuer), eq(oidcIdentities.subject, identity.subject)));
  if (linked !== undefined) {
    if (linked.disabled) await refuse("disabled", { type: "user", id: linked.id }, new AppError("UNAUTHORIZED"));
    return openSession(runtime, method, request, async (tx) => {
      await tx
        .update(oidcIdentities)
        .set({ lastSignInAt: new Date(runtime.now()), email: identity.email ?? null })
        .where(and(eq(oidcIdentities.issuer, identity.issuer), eq(oidcIdentities.subject, identity.subject)));
      return { account: { id: linked.id, email: linked.email, createdAt: linked.createdAt }, outcome: "signed_in" };
    });
  }

  // The same refusal whether or not an account has the address: an unverified address must not tell who signed up.
  if (identity.email === undefined || !identity.emailVerified)
    return refuse("provider_email_unverified", undefined, new AppError("OIDC_EMAIL_UNVERIFIED", PROVIDER_UNVERIFIED));
  const email = identity.email;
  const link = (tx: Db, userId: string) =>
    tx
      .insert(oidcIdentities)
      .values({ issuer: identity.issuer, subject: identity.subject, provider, userId, email })
      .onConflictDoNothing();

  const [local] = await db
    .select({ ...ACCOUNT_COLUMNS, disabled: users.disabled, emailVerifiedAt: users.emailVerifiedAt })
    .from(users)
    .where(eq(users.email, email));
  if (local !== undefined) {
    const target = { type: "user", id: local.id };
    if (local.emailVerifiedAt === null) {
      await recordAuditEvent(
        db,
        { action: "user.oidc.link_refused", actor: { type: "anonymous" }, target, metadata: method },
        request,
      );
      throw new AppError("OIDC_EMAIL_UNVERIFIED");
    }
    if (local.disabled) await refuse("disabled", target, new AppError("UNAUTHORIZED"));
    return openSession(runtime, method, request, async (tx) => {
      await link(tx, local.id);
      await recordAuditEvent(
        tx,
        { action: "user.oidc.linked", actor: { type: "user", id: local.id }, target, metadata: method },
        request,
      );
      return { account: { id: local.id, email: local.email, createdAt: local.createdAt }, outcome: "linked" };
    });
  }

  // A password nobody knows, hashed like any other: the password login of this account then costs and answers
  // exactly what a wrong password does, and a reset by e-mail gives it a real one.
  const passwordHash = await hasher.hash(randomBytes(32).toString("base64url"));
  return openSession(runtime, method, request, async (tx) => {
    const [account] = await tx
      .insert(users)
      .values({ email, passwordHash, emailVerifiedAt: new Date(runtime.now()) })
      .onConflictDoNothing({ target: users.email })
      .returning(ACCOUNT_COLUMNS);
    // Another request created it in between (a double-clicked link): that one signs in, this one starts over.
    if (account === undefined) throw new AppError("OIDC_STATE_INVALID");
    await link(tx, account.id);
    await recordAuditEvent(
      tx,
      {
        action: "user.signup",
        actor: { type: "user", id: account.id },
        target: { type: "user", id: account.id },
        metadata: method,
      },
      request,
    );
    return { account, outcome: "created" };
  });
}

/**
 * In one transaction: `prepare` (which finds, links or creates the account), a session for it and its login
 * row. Signed before commit, like a password login: no session is opened without its tokens reaching the client.
 */
async function openSession(
  runtime: IdentityRuntime,
  method: { method: "oidc"; provider: string },
  request: Request | undefined,
  prepare: (tx: Db) => Promise<{ account: Account; outcome: OidcOutcome }>,
): Promise<SignedIn & { outcome: OidcOutcome }> {
  const ring = await runtime.services.identity.keyRing.get();
  return runtime.db.primary.transaction(async (tx) => {
    const { account, outcome } = await prepare(tx);
    const signedIn = await openSignedInSession(tx, ring, runtime.config.auth, account.id, request);
    await recordAuditEvent(
      tx,
      {
        action: "user.login.succeeded",
        actor: { type: "user", id: account.id },
        target: { type: "user", id: account.id },
        metadata: { ...method, sessionId: signedIn.session.sessionId },
      },
      request,
    );
    return { account, ...signedIn, outcome };
  });
}
