/**
 * Short-lived, single-use challenges: the token between a login's password step and its second factor, and
 * the WebAuthn challenge of a passkey ceremony. Only the token's SHA-256 is stored; consuming deletes the row,
 * so of two concurrent uses exactly one gets it. Expiry is read against the runtime's clock.
 */
import { randomBytes } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { sha256Hex } from "../crypto/sha256.ts";
import type { Db } from "../db/database.ts";
import { authChallenges } from "../db/schema/index.ts";

export type ChallengePurpose = (typeof authChallenges.$inferInsert)["purpose"];

/** How long each kind of challenge lives: long enough to find a phone or touch a key, no longer. */
export const CHALLENGE_TTL_MS: Readonly<Record<ChallengePurpose, number>> = {
  mfa_login: 5 * 60_000,
  passkey_registration: 5 * 60_000,
  passkey_authentication: 5 * 60_000,
};

/** 32 random bytes, base64url: the shape every challenge token has, checked before any lookup. */
export const CHALLENGE_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface PendingChallenge {
  userId: string | null;
  challenge: string | null;
}

export interface IssuedChallenge {
  token: string;
  expiresIn: number;
}

export async function issueChallenge(
  db: Db,
  purpose: ChallengePurpose,
  pending: PendingChallenge,
  now: number,
): Promise<IssuedChallenge> {
  const token = randomBytes(32).toString("base64url");
  const ttlMs = CHALLENGE_TTL_MS[purpose];
  await db
    .insert(authChallenges)
    .values({ tokenHash: sha256Hex(token), purpose, ...pending, expiresAt: new Date(now + ttlMs) });
  return { token, expiresIn: ttlMs / 1000 };
}

const PENDING_COLUMNS = {
  userId: authChallenges.userId,
  challenge: authChallenges.challenge,
  expiresAt: authChallenges.expiresAt,
};

// Only the hash of a token is stored; a token of one purpose never answers for another.
const challengeOf = (purpose: ChallengePurpose, token: string) =>
  and(eq(authChallenges.tokenHash, sha256Hex(token)), eq(authChallenges.purpose, purpose));

/** The challenge, left in place (a wrong code does not end a login); undefined when unknown, spent or expired. */
export async function readChallenge(
  db: Db,
  purpose: ChallengePurpose,
  token: string,
  now: number,
): Promise<PendingChallenge | undefined> {
  const [row] = await db.select(PENDING_COLUMNS).from(authChallenges).where(challengeOf(purpose, token));
  return row === undefined || row.expiresAt.getTime() <= now ? undefined : row;
}

/** Takes the challenge for good; undefined when it was unknown, already taken or expired. */
export async function consumeChallenge(
  db: Db,
  purpose: ChallengePurpose,
  token: string,
  now: number,
): Promise<PendingChallenge | undefined> {
  const [row] = await db.delete(authChallenges).where(challengeOf(purpose, token)).returning(PENDING_COLUMNS);
  return row === undefined || row.expiresAt.getTime() <= now ? undefined : row;
}
