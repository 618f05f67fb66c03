/**
 * Passkeys (WebAuthn, through @simplewebauthn/server): registration for a signed-in user, and assertions that
 * sign in without a password or stand as a login's second factor. Each ceremony's challenge is single-use and
 * short-lived (auth-challenges.ts); user verification is required, attestation is not asked for.
 */
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { and, eq } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { passkeys } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { consumeChallenge, issueChallenge } from "./auth-challenges.ts";
import type { IdentityRuntime } from "./identity.ts";

export interface Ceremony<Options> {
  /** Sent back with the authenticator's answer: names the challenge, once. */
  ceremonyToken: string;
  expiresIn: number;
  /** For `navigator.credentials.create()` / `.get()` (after decoding, as @simplewebauthn/browser does). */
  options: Options;
}

export interface PasskeySummary {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

const SUMMARY_COLUMNS = {
  id: passkeys.id,
  name: passkeys.name,
  createdAt: passkeys.createdAt,
  lastUsedAt: passkeys.lastUsedAt,
};

// Loaded on the first ceremony: its import (CBOR, ASN.1, COSE) would otherwise weigh on every cold start.
const webauthn = () => import("@simplewebauthn/server");

const refused = () => new AppError("UNAUTHORIZED", "The passkey could not be verified.");

export function listPasskeys(db: Db, userId: string): Promise<PasskeySummary[]> {
  return db.select(SUMMARY_COLUMNS).from(passkeys).where(eq(passkeys.userId, userId)).orderBy(passkeys.createdAt);
}

export async function startPasskeyRegistration(
  runtime: IdentityRuntime,
  account: { id: string; email: string },
): Promise<Ceremony<PublicKeyCredentialCreationOptionsJSON>> {
  const db = runtime.db.primary;
  const { rpId } = runtime.config.auth.webauthn;
  const existing = await db
    .select({ id: passkeys.id, transports: passkeys.transports })
    .from(passkeys)
    .where(eq(passkeys.userId, account.id));
  const options = await (await webauthn()).generateRegistrationOptions({
    rpName: rpId,
    rpID: rpId,
    userName: account.email,
    userID: new TextEncoder().encode(account.id),
    attestationType: "none",
    excludeCredentials: existing,
    authenticatorSelection: { residentKey: "required", userVerification: "required" },
  });
  const issued = await issueChallenge(
    db,
    "passkey_registration",
    { userId: account.id, challenge: options.challenge },
    runtime.now(),
  );
  return { ceremonyToken: issued.token, expiresIn: issued.expiresIn, options };
}

/** Verifies the authenticator's answer to the user's own registration ceremony and keeps the credential. */
export async function finishPasskeyRegistration(
  runtime: IdentityRuntime,
  userId: string,
  answer: { ceremonyToken: string; response: RegistrationResponseJSON; name?: string },
  request?: Request,
): Promise<PasskeySummary> {
  const { rpId, origins } = runtime.config.auth.webauthn;
  return runtime.db.primary.transaction(async (tx) => {
    const pending = await consumeChallenge(tx, "passkey_registration", answer.ceremonyToken, runtime.now());
    if (pending?.userId !== userId || pending.challenge === null)
      throw new AppError("UNAUTHORIZED", "The registration ceremony is unknown, used or expired.");
    const verification = await (await webauthn())
      .verifyRegistrationResponse({
        response: answer.response,
        expectedChallenge: pending.challenge,
        expectedOrigin: [...origins],
        expectedRPID: rpId,
        requireUserVerification: true,
      })
      .catch(() => undefined);
    if (verification?.verified !== true)
      throw new AppError("BAD_REQUEST", "The authenticator's answer could not be verified.");
    const { credential } = verification.registrationInfo;
    const [saved] = await tx
      .insert(passkeys)
      .values({
        id: credential.id,
        userId,
        name: answer.name ?? "Passkey",
        publicKey: Buffer.from(credential.publicKey).toString("base64url"),
        signCount: credential.counter,
        transports: credential.transports ?? [],
      })
      .onConflictDoNothing()
      .returning(SUMMARY_COLUMNS);
    if (saved === undefined) throw new AppError("CONFLICT", "This passkey is already registered.");
    await recordAuditEvent(
      tx,
      {
        action: "user.passkey.registered",
        actor: { type: "user", id: userId },
        target: { type: "user", id: userId },
        metadata: { passkeyId: saved.id },
      },
      request,
    );
    return saved;
  });
}

/**
 * An authentication ceremony: for `userId`'s own passkeys (a second factor, a step-up), or for any
 * discoverable one (a password-less sign-in), when `userId` is null.
 */
export async function startPasskeyAuthentication(
  runtime: IdentityRuntime,
  userId: string | null,
): Promise<Ceremony<PublicKeyCredentialRequestOptionsJSON>> {
  const db = runtime.db.primary;
  const allowCredentials =
    userId === null
      ? []
      : await db
          .select({ id: passkeys.id, transports: passkeys.transports })
          .from(passkeys)
          .where(eq(passkeys.userId, userId));
  const options = await (await webauthn()).generateAuthenticationOptions({
    rpID: runtime.config.auth.webauthn.rpId,
    allowCredentials: allowCredentials as { id: string; transports?: never[] }[],
    userVerification: "required",
  });
  const issued = await issueChallenge(
    db,
    "passkey_authentication",
    { userId, challenge: options.challenge },
    runtime.now(),
  );
  return { ceremonyToken: issued.token, expiresIn: issued.expiresIn, options };
}

/**
 * Verifies an assertion inside `tx` and advances the credential's signature counter; the user it proves.
 * A ceremony started for one user admits only that user's passkeys. Every refusal is the same 401.
 */
export async function verifyPasskeyAssertion(
  tx: Db,
  runtime: IdentityRuntime,
  answer: { ceremonyToken: string; response: AuthenticationResponseJSON },
): Promise<string> {
  const { rpId, origins } = runtime.config.auth.webauthn;
  const pending = await consumeChallenge(tx, "passkey_authentication", answer.ceremonyToken, runtime.now());
  if (pending === undefined || pending.challenge === null) throw refused();
  const [stored] = await tx
    .select()
    .from(passkeys)
    .where(
      pending.userId === null
        ? eq(passkeys.id, answer.response.id)
        : and(eq(passkeys.id, answer.response.id), eq(passkeys.userId, pending.userId)),
    );
  if (stored === undefined) throw refused();
  const verification = await (await webauthn())
    .verifyAuthenticationResponse({
      response: answer.response,
      expectedChallenge: pending.challenge,
      expectedOrigin: [...origins],
      expectedRPID: rpId,
      credential: {
        id: stored.id,
        publicKey: new Uint8Array(Buffer.from(stored.publicKey, "base64url")),
        counter: stored.signCount,
        transports: stored.transports as never[],
      },
      requireUserVerification: true,
    })
    .catch(() => undefined);
  if (verification?.verified !== true) throw refused();
  await tx
    .update(passkeys)
    .set({ signCount: verification.authenticationInfo.newCounter, lastUsedAt: new Date(runtime.now()) })
    .where(eq(passkeys.id, stored.id));
  return stored.userId;
}

/** Deletes one of the user's passkeys, audited; false when the user has no such passkey. */
export async function removePasskey(
  runtime: IdentityRuntime,
  userId: string,
  passkeyId: string,
  request?: Request,
): Promise<boolean> {
  return runtime.db.primary.transaction(async (tx) => {
    const [removed] = await tx
      .delete(passkeys)
      .where(and(eq(passkeys.id, passkeyId), eq(passkeys.userId, userId)))
      .returning({ id: passkeys.id });
    if (removed === undefined) return false;
    await recordAuditEvent(
      tx,
      {
        action: "user.passkey.removed",
        actor: { type: "user", id: userId },
        target: { type: "user", id: userId },
        metadata: { passkeyId },
      },
      request,
    );
    return true;
  });
}
