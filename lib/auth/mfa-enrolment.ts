/**
 * Enrolling and removing TOTP and replacing recovery codes, each with its audit row. A first code confirms a
 * TOTP enrolment and returns the recovery codes, shown once; removing the last second factor drops them too.
 */
import { and, count, eq, isNull } from "drizzle-orm";
import { recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { recoveryCodes } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import type { IdentityRuntime } from "./identity.ts";
import { hasConfirmedTotp, secondFactorsOf } from "./mfa-challenge.ts";
import { withCode } from "./mfa-sign-in.ts";
import { listPasskeys, type PasskeySummary } from "./passkeys.ts";
import { deleteRecoveryCodes, replaceRecoveryCodes } from "./recovery-codes.ts";
import { hasPendingTotp, removeTotp, startTotpEnrolment, type TotpEnrolment } from "./totp.ts";

export interface MfaStatus {
  totp: boolean;
  passkeys: PasskeySummary[];
  recoveryCodesLeft: number;
}

const userEvent = (userId: string) =>
  ({ actor: { type: "user", id: userId }, target: { type: "user", id: userId } }) as const;

export async function mfaStatusOf(db: Db, userId: string): Promise<MfaStatus> {
  const [totp, keys, [codes]] = await Promise.all([
    hasConfirmedTotp(db, userId),
    listPasskeys(db, userId),
    db
      .select({ left: count() })
      .from(recoveryCodes)
      .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt))),
  ]);
  return { totp, passkeys: keys, recoveryCodesLeft: codes?.left ?? 0 };
}

/** A pending TOTP secret for the account; 409 when TOTP is already on (remove it first). */
export async function enrolTotp(
  runtime: IdentityRuntime,
  account: { id: string; email: string },
): Promise<TotpEnrolment> {
  const { db, services, config } = runtime;
  const enrolment = await startTotpEnrolment(db.primary, services.identity.encryptor, account, config.auth.issuer);
  if (enrolment === undefined) throw new AppError("CONFLICT", "TOTP is already enabled; remove it to enrol again.");
  return enrolment;
}

/** Confirms the pending enrolment with a first code; the new recovery codes, shown this once. */
export async function confirmTotp(
  runtime: IdentityRuntime,
  userId: string,
  code: string,
  request?: Request,
): Promise<{ recoveryCodes: string[] }> {
  const db = runtime.db.primary;
  return withCode(runtime, userId, { code, pending: true }, request, async (tx) => {
    const codes = await replaceRecoveryCodes(tx, userId);
    await recordAuditEvent(tx, { action: "user.mfa.totp_enabled", ...userEvent(userId) }, request);
    await recordAuditEvent(tx, { action: "user.mfa.recovery_codes_generated", ...userEvent(userId) }, request);
    return { recoveryCodes: codes };
  }).catch(async (error: unknown) => {
    // Nothing pending at all is a conflict, not a wrong code.
    if (error instanceof AppError && error.code === "MFA_CODE_INVALID" && !(await hasPendingTotp(db, userId)))
      throw new AppError("CONFLICT", "No TOTP enrolment is waiting for confirmation.");
    throw error;
  });
}

export async function removeTotpAudited(runtime: IdentityRuntime, userId: string, request?: Request): Promise<boolean> {
  return runtime.db.primary.transaction(async (tx) => {
    if (!(await removeTotp(tx, userId))) return false;
    if ((await secondFactorsOf(tx, userId)).length === 0) await deleteRecoveryCodes(tx, userId);
    await recordAuditEvent(tx, { action: "user.mfa.totp_removed", ...userEvent(userId) }, request);
    return true;
  });
}

/** A fresh set of recovery codes; 409 for an account without a second factor, which has no use for them. */
export async function regenerateRecoveryCodes(
  runtime: IdentityRuntime,
  userId: string,
  request?: Request,
): Promise<{ recoveryCodes: string[] }> {
  return runtime.db.primary.transaction(async (tx) => {
    if ((await secondFactorsOf(tx, userId)).length === 0)
      throw new AppError("CONFLICT", "Recovery codes need a second factor: enrol TOTP or a passkey first.");
    const codes = await replaceRecoveryCodes(tx, userId);
    await recordAuditEvent(tx, { action: "user.mfa.recovery_codes_generated", ...userEvent(userId) }, request);
    return { recoveryCodes: codes };
  });
}
