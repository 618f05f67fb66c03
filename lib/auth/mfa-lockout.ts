/**
 * The per-account limit on second-factor guesses, beside the per-address rate limits: wrong codes are counted
 * per account in a window, and past the limit the account's second step is locked for a while, whatever the
 * address. A million codes and a budget of 5 per 15 minutes leave a guesser about 1 chance in 10^4 a year.
 */
import { eq, sql } from "drizzle-orm";
import type { Db } from "../db/database.ts";
import { mfaLockouts } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";

export interface MfaLockoutOptions {
  /** Wrong codes admitted in a window before the lock. @default 5 */
  maxFailures: number;
  /** @default 15 minutes */
  windowMs: number;
  /** @default 15 minutes */
  lockMs: number;
}

export const DEFAULT_MFA_LOCKOUT: MfaLockoutOptions = { maxFailures: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

function locked(until: Date, now: number): AppError {
  const retryAfter = String(Math.max(1, Math.ceil((until.getTime() - now) / 1000)));
  return new AppError("MFA_LOCKED", undefined, undefined, { "Retry-After": retryAfter });
}

/** Throws 429 MFA_LOCKED while the account is locked, even for a right code: a lock that a guess could lift is none. */
export async function assertNotLocked(db: Db, userId: string, now: number): Promise<void> {
  const [row] = await db
    .select({ lockedUntil: mfaLockouts.lockedUntil })
    .from(mfaLockouts)
    .where(eq(mfaLockouts.userId, userId));
  if (row?.lockedUntil != null && row.lockedUntil.getTime() > now) throw locked(row.lockedUntil, now);
}

/**
 * Counts one wrong code in one upsert (concurrent guesses all count); returns the lock error when this one
 * reached the limit, for the caller to throw instead of the plain refusal.
 */
export async function recordWrongCode(
  db: Db,
  userId: string,
  now: number,
  options: MfaLockoutOptions = DEFAULT_MFA_LOCKOUT,
): Promise<AppError | undefined> {
  const at = new Date(now);
  // Raw SQL parameters go as ISO text: not every driver serialises a Date inside sql``.
  const timestamp = (ms: number) => sql`${new Date(ms).toISOString()}::timestamptz`;
  const windowStart = timestamp(now - options.windowMs);
  const lockUntil = timestamp(now + options.lockMs);
  const fresh = sql`${mfaLockouts.windowStartedAt} < ${windowStart}`;
  const failures = sql`case when ${fresh} then 1 else ${mfaLockouts.failures} + 1 end`;
  const [row] = await db
    .insert(mfaLockouts)
    .values({ userId, failures: 1, windowStartedAt: at })
    .onConflictDoUpdate({
      target: mfaLockouts.userId,
      set: {
        failures: sql`case when ${failures} >= ${options.maxFailures} then 0 else ${failures} end`,
        windowStartedAt: sql`case when ${fresh} then ${timestamp(now)} else ${mfaLockouts.windowStartedAt} end`,
        lockedUntil: sql`case when ${failures} >= ${options.maxFailures} then ${lockUntil}
          else ${mfaLockouts.lockedUntil} end`,
      },
    })
    .returning({ lockedUntil: mfaLockouts.lockedUntil });
  return row?.lockedUntil != null && row.lockedUntil.getTime() > now ? locked(row.lockedUntil, now) : undefined;
}

/** A right code clears the count. */
export async function clearWrongCodes(db: Db, userId: string): Promise<void> {
  await db.delete(mfaLockouts).where(eq(mfaLockouts.userId, userId));
}
