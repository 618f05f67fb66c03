/**
 * TOTP (RFC 6238) through otpauth: SHA-1, 6 digits, 30 s steps, the codes authenticator apps show. The
 * secret is sealed with the envelope encryption, bound to its user; a code is accepted one step either side
 * of now, and only for a step later than the last one accepted, so a code seen once cannot be used again.
 */
import { and, eq, isNotNull, isNull, lt } from "drizzle-orm";
import { Secret, TOTP } from "otpauth";
import type { Encryptor } from "../crypto/envelope-encryption.ts";
import type { Db } from "../db/database.ts";
import { userTotp } from "../db/schema/index.ts";
import { totpSecretRowIdentity as sealedIdentity } from "./totp-secret.ts";

export const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted either side of the current one: a clock a little off, or a code typed as it changes. */
export const TOTP_DRIFT_STEPS = 1;
export const TOTP_CODE_PATTERN = /^\d{6}$/;

function totpOf(secret: string, label: string, issuer: string): TOTP {
  return new TOTP({ issuer, label, secret: Secret.fromBase32(secret), period: TOTP_PERIOD_SECONDS });
}

export interface TotpEnrolment {
  /** Base32, for typing in by hand. */
  secret: string;
  /** The `otpauth://` URI a QR code carries. */
  uri: string;
}

/**
 * A new secret awaiting its first code, replacing any earlier pending one; undefined when TOTP is already
 * confirmed (it must be removed first).
 */
export async function startTotpEnrolment(
  db: Db,
  encryptor: Encryptor,
  account: { id: string; email: string },
  issuer: string,
): Promise<TotpEnrolment | undefined> {
  const secret = new Secret({ size: 20 }).base32;
  const secretSealed = await encryptor.encrypt(secret, sealedIdentity(account.id));
  const [row] = await db
    .insert(userTotp)
    .values({ userId: account.id, secretSealed })
    .onConflictDoUpdate({
      target: userTotp.userId,
      set: { secretSealed, lastUsedStep: 0, createdAt: new Date() },
      setWhere: isNull(userTotp.confirmedAt),
    })
    .returning({ userId: userTotp.userId });
  if (row === undefined) return undefined;
  return { secret, uri: totpOf(secret, account.email, issuer).toString() };
}

/** The step `code` belongs to when it is valid at `now` within the drift window, else undefined. */
function stepOf(secret: string, code: string, now: number): number | undefined {
  if (!TOTP_CODE_PATTERN.test(code)) return undefined;
  const totp = totpOf(secret, "", "");
  const delta = totp.validate({ token: code, timestamp: now, window: TOTP_DRIFT_STEPS });
  return delta === null ? undefined : totp.counter({ timestamp: now }) + delta;
}

/**
 * Accepts `code` for the user's TOTP (confirmed or, with `pending`, awaiting confirmation, which it then
 * confirms) and records its step in the same conditional UPDATE: of two uses of one code, one wins.
 * @returns whether the code was accepted.
 */
export async function acceptTotpCode(
  db: Db,
  encryptor: Encryptor,
  userId: string,
  code: string,
  now: number,
  { pending = false } = {},
): Promise<boolean> {
  const confirmed = pending ? isNull(userTotp.confirmedAt) : isNotNull(userTotp.confirmedAt);
  const [row] = await db
    .select({ secretSealed: userTotp.secretSealed })
    .from(userTotp)
    .where(and(eq(userTotp.userId, userId), confirmed));
  if (row === undefined) return false;
  const step = stepOf(await encryptor.decrypt(row.secretSealed, sealedIdentity(userId)), code, now);
  if (step === undefined) return false;
  const [claimed] = await db
    .update(userTotp)
    .set({ lastUsedStep: step, ...(pending ? { confirmedAt: new Date(now) } : {}) })
    .where(and(eq(userTotp.userId, userId), confirmed, lt(userTotp.lastUsedStep, step)))
    .returning({ userId: userTotp.userId });
  return claimed !== undefined;
}

/** Whether the user has an enrolment awaiting its first code. */
export async function hasPendingTotp(db: Db, userId: string): Promise<boolean> {
  const [row] = await db
    .select({ userId: userTotp.userId })
    .from(userTotp)
    .where(and(eq(userTotp.userId, userId), isNull(userTotp.confirmedAt)));
  return row !== undefined;
}

/** Removes the user's TOTP, confirmed or pending; whether there was one. */
export async function removeTotp(db: Db, userId: string): Promise<boolean> {
  const deleted = await db.delete(userTotp).where(eq(userTotp.userId, userId)).returning({ userId: userTotp.userId });
  return deleted.length > 0;
}
