/**
 * Single-use tokens sent by e-mail: 32 random bytes, stored only as their SHA-256, spent by one UPDATE that
 * also checks the purpose and the lifetime, so two uses at once cannot both succeed.
 */
import { randomBytes } from "node:crypto";
import { and, eq, gt, isNull } from "drizzle-orm";
import { sha256Hex } from "../crypto/sha256.ts";
import type { Db } from "../db/database.ts";
import { emailTokens } from "../db/schema/index.ts";

export type EmailTokenPurpose = (typeof emailTokens.$inferSelect)["purpose"];

/** The shape of a token we send: 32 bytes in unpadded base64url. Anything else is refused by the schema. */
export const EMAIL_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export const EMAIL_TOKEN_TTL_MS: Record<EmailTokenPurpose, number> = {
  // Long enough to reach an inbox on another device; a new link is a resend away.
  verify_email: 2 * 3_600_000,
  // A reset link signs every session out: it must not stay useful in an old mailbox.
  reset_password: 30 * 60_000,
};

/** A fresh token and the hash that is stored in its place. */
export function newSingleUseToken(): { token: string; tokenHash: string } {
  const token = randomBytes(32).toString("base64url");
  return { token, tokenHash: sha256Hex(token) };
}

/** Issues a token for `userId`, and spends any earlier one of the same purpose: only the newest link works. */
export async function issueEmailToken(
  tx: Db,
  input: { purpose: EmailTokenPurpose; userId: string; email: string },
  nowMs: number,
): Promise<string> {
  const { token, tokenHash } = newSingleUseToken();
  await tx
    .update(emailTokens)
    .set({ usedAt: new Date(nowMs) })
    .where(
      and(eq(emailTokens.userId, input.userId), eq(emailTokens.purpose, input.purpose), isNull(emailTokens.usedAt)),
    );
  await tx
    .insert(emailTokens)
    .values({ ...input, tokenHash, expiresAt: new Date(nowMs + EMAIL_TOKEN_TTL_MS[input.purpose]) });
  return token;
}

/** Spends a live token of `purpose`; undefined for a wrong, used or expired one alike. */
export async function spendEmailToken(
  tx: Db,
  purpose: EmailTokenPurpose,
  token: string,
  nowMs: number,
): Promise<{ userId: string; email: string } | undefined> {
  const now = new Date(nowMs);
  const [spent] = await tx
    .update(emailTokens)
    .set({ usedAt: now })
    .where(
      and(
        eq(emailTokens.tokenHash, sha256Hex(token)),
        eq(emailTokens.purpose, purpose),
        isNull(emailTokens.usedAt),
        gt(emailTokens.expiresAt, now),
      ),
    )
    .returning({ userId: emailTokens.userId, email: emailTokens.email });
  return spent;
}
