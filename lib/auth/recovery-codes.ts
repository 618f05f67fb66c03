/**
 * One-time recovery codes: 80 random bits each (16 base32 characters, shown in groups of four), stored only as
 * SHA-256, which is enough at that entropy. A code is spent by one conditional UPDATE, so it works once.
 */
import { randomBytes } from "node:crypto";
import { and, count, eq, isNull } from "drizzle-orm";
import { sha256Hex } from "../crypto/sha256.ts";
import type { Db } from "../db/database.ts";
import { recoveryCodes } from "../db/schema/index.ts";

export const RECOVERY_CODE_COUNT = 10;
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
/** As typed: any case, with or without the dashes and spaces. */
export const RECOVERY_CODE_PATTERN = /^[A-Za-z2-7 -]{16,24}$/;

const normalised = (code: string) => code.toLowerCase().replace(/[\s-]/g, "");
const hashOf = (code: string) => sha256Hex(normalised(code));

function newCode(): string {
  // 10 random bytes are 80 bits, 16 base32 characters of 5 bits each.
  const bits = [...randomBytes(10)].map((byte) => byte.toString(2).padStart(8, "0")).join("");
  const characters = bits.match(/.{5}/g)?.map((chunk) => ALPHABET[Number.parseInt(chunk, 2)]) ?? [];
  return characters.join("").replace(/(.{4})(?=.)/g, "$1-");
}

/** Replaces every code of the user with a fresh set, shown once: only their hashes are kept. */
export async function replaceRecoveryCodes(tx: Db, userId: string): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
  await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
  await tx.insert(recoveryCodes).values(codes.map((code) => ({ codeHash: hashOf(code), userId })));
  return codes;
}

/** Spends `code` if it is one of the user's unused codes; the count left, or undefined when it was not. */
export async function spendRecoveryCode(
  tx: Db,
  userId: string,
  code: string,
  now: number,
): Promise<number | undefined> {
  const [spent] = await tx
    .update(recoveryCodes)
    .set({ usedAt: new Date(now) })
    .where(
      and(eq(recoveryCodes.codeHash, hashOf(code)), eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)),
    )
    .returning({ codeHash: recoveryCodes.codeHash });
  if (spent === undefined) return undefined;
  const [left] = await tx
    .select({ left: count() })
    .from(recoveryCodes)
    .where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt)));
  return left?.left ?? 0;
}

export async function deleteRecoveryCodes(tx: Db, userId: string): Promise<void> {
  await tx.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId));
}
