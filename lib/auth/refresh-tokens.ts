/**
 * Refresh tokens: 32 random bytes (base64url), stored only as their SHA-256. Each use rotates the token
 * within its session (the family); a used token presented again revokes the family (RFC 9700 4.14.2).
 */
import { createHash, randomBytes } from "node:crypto";
import { and, eq, gt, isNull } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { AuthConfig } from "../config/config.ts";
import { requestContextOf } from "../core/request-context.ts";
import type { Db } from "../db/database.ts";
import { refreshTokens, sessions, users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import type { MessagesCommitted } from "../outbox/webhook-outbox.ts";
import { type IssuedAccessToken, signAccessToken } from "./access-tokens.ts";
import { deviceLabel } from "./device-label.ts";
import type { IdentityRuntime } from "./identity.ts";
import { revokeSessionsAudited } from "./sessions.ts";

export const REFRESH_TOKEN_BYTES = 32;
/** The shape of a token we issue: 32 bytes in unpadded base64url. */
export const REFRESH_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface IssuedSession {
  sessionId: string;
  refreshToken: string;
}

export interface RotatedSession extends IssuedSession {
  userId: string;
  email: string;
  accessToken: IssuedAccessToken;
}

export const epochSecondsOf = (date: Date) => Math.floor(date.getTime() / 1000);

export function generateRefreshToken(): string {
  return randomBytes(REFRESH_TOKEN_BYTES).toString("base64url");
}

export function hashRefreshToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

// A token is dead after the idle lifetime, and never outlives its session.
function tokenExpiry(auth: AuthConfig, sessionExpiresAt: Date, now: Date): Date {
  return new Date(Math.min(now.getTime() + auth.refreshIdleTtlSeconds * 1000, sessionExpiresAt.getTime()));
}

async function issueToken(
  db: Db,
  auth: AuthConfig,
  sessionId: string,
  sessionExpiresAt: Date,
  now: Date,
): Promise<string> {
  const refreshToken = generateRefreshToken();
  await db.insert(refreshTokens).values({
    tokenHash: hashRefreshToken(refreshToken),
    sessionId,
    issuedAt: now,
    expiresAt: tokenExpiry(auth, sessionExpiresAt, now),
  });
  return refreshToken;
}

/** Opens a session for `userId` with its first refresh token; the device and address come from the request. */
export async function startSession(
  db: Db,
  auth: AuthConfig,
  userId: string,
  request?: Request,
  now: Date = new Date(),
): Promise<IssuedSession> {
  const expiresAt = new Date(now.getTime() + auth.sessionAbsoluteTtlSeconds * 1000);
  const device = deviceLabel(request?.headers.get("user-agent") ?? null);
  const ip = request === undefined ? null : (requestContextOf(request).clientIp ?? null);
  return db.transaction(async (tx) => {
    const [session] = await tx
      .insert(sessions)
      .values({ userId, device, ip, createdAt: now, lastUsedAt: now, authenticatedAt: now, expiresAt })
      .returning({ id: sessions.id });
    if (session === undefined) throw new Error("inserting a session returned no row");
    return { sessionId: session.id, refreshToken: await issueToken(tx, auth, session.id, expiresAt, now) };
  });
}

type Rotation = { kind: "rotated"; session: RotatedSession } | { kind: "reused"; sessionId: string; userId: string };

const unauthorized = () => new AppError("UNAUTHORIZED");

/**
 * Trades a refresh token for the next one of its family. Claiming it is one conditional UPDATE, so of
 * two concurrent refreshes exactly one succeeds and the other is treated as the reuse it looks like.
 * A dead token, session or account answers 401 and rolls the claim back, so a retry is not a "reuse";
 * so does any failure before commit, which is why the access token is signed and audited inside it.
 * A reuse sends `refresh_token.reuse_detected` (and `session.revoked`) to the user's organizations.
 */
export async function rotateRefreshToken(
  runtime: IdentityRuntime,
  presented: string,
  request?: Request,
  committed?: MessagesCommitted,
): Promise<RotatedSession> {
  const db = runtime.db.primary;
  const { auth } = runtime.config;
  const tokenHash = hashRefreshToken(presented);
  const now = new Date();
  const ring = await runtime.services.identity.keyRing.get();
  const rotation = await db.transaction(async (tx): Promise<Rotation> => {
    const [claimed] = await tx
      .update(refreshTokens)
      .set({ usedAt: now })
      .where(
        and(eq(refreshTokens.tokenHash, tokenHash), isNull(refreshTokens.usedAt), gt(refreshTokens.expiresAt, now)),
      )
      .returning({ sessionId: refreshTokens.sessionId });
    if (claimed === undefined) {
      const [known] = await tx
        .select({ sessionId: refreshTokens.sessionId, usedAt: refreshTokens.usedAt, userId: sessions.userId })
        .from(refreshTokens)
        .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
        .where(eq(refreshTokens.tokenHash, tokenHash));
      // Unknown, or never used but past its idle lifetime: nothing to learn from it.
      if (known?.usedAt == null) throw unauthorized();
      return { kind: "reused", sessionId: known.sessionId, userId: known.userId };
    }
    const [session] = await tx
      .select({
        userId: sessions.userId,
        email: users.email,
        expiresAt: sessions.expiresAt,
        revokedAt: sessions.revokedAt,
        authenticatedAt: sessions.authenticatedAt,
        disabled: users.disabled,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, claimed.sessionId));
    if (session === undefined || session.revokedAt !== null || session.expiresAt <= now || session.disabled)
      throw unauthorized();
    const ip = request === undefined ? undefined : requestContextOf(request).clientIp;
    await tx
      .update(sessions)
      .set({ lastUsedAt: now, ...(ip === undefined ? {} : { ip }) })
      .where(eq(sessions.id, claimed.sessionId));
    const refreshToken = await issueToken(tx, auth, claimed.sessionId, session.expiresAt, now);
    await recordAuditEvent(
      tx,
      {
        action: "session.refreshed",
        actor: { type: "user", id: session.userId },
        target: { type: "session", id: claimed.sessionId },
      },
      request,
    );
    const accessToken = await signAccessToken(ring, auth, {
      userId: session.userId,
      sessionId: claimed.sessionId,
      authTime: epochSecondsOf(session.authenticatedAt),
    });
    return {
      kind: "rotated",
      session: {
        sessionId: claimed.sessionId,
        refreshToken,
        userId: session.userId,
        email: session.email,
        accessToken,
      },
    };
  });

  if (rotation.kind === "reused") {
    const { sessionId, userId } = rotation;
    // The presenter is unknown: the thief or the user, whichever came second.
    const eventOf = (revoked: string[]): AuditEvent => ({
      action: "session.token_reused",
      actor: { type: "anonymous" },
      target: { type: "session", id: sessionId },
      metadata: { userId, familyRevoked: revoked.length > 0 },
    });
    const also = { type: "refresh_token.reuse_detected", data: { userId, sessionId } } as const;
    await revokeSessionsAudited(runtime, { userId, sessionId }, "token_reused", eventOf, request, { also, committed });
    throw new AppError("TOKEN_REUSED");
  }
  return rotation.session;
}

/**
 * Logs out the session a refresh token belongs to, whether the token is the latest of its family or an
 * older one: holding any of them already lets one revoke the family (by reusing it). Unknown tokens do nothing.
 */
export async function logOut(
  runtime: IdentityRuntime,
  presented: string,
  request?: Request,
  committed?: MessagesCommitted,
): Promise<void> {
  const db = runtime.db.primary;
  const [owner] = await db
    .select({ sessionId: refreshTokens.sessionId, userId: sessions.userId })
    .from(refreshTokens)
    .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
    .where(eq(refreshTokens.tokenHash, hashRefreshToken(presented)));
  if (owner === undefined) return;
  const eventOf = (revoked: string[]): AuditEvent | undefined =>
    revoked.length === 0
      ? undefined
      : {
          action: "session.logout",
          actor: { type: "user", id: owner.userId },
          target: { type: "session", id: owner.sessionId },
        };
  await revokeSessionsAudited(runtime, owner, "logout", eventOf, request, { committed });
}
