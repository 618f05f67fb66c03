import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  DATABASE_BACKENDS,
  openTestRuntime,
  type TestRuntime,
} from "../../../test/backends.ts";
import { hashRefreshToken, startSession } from "../../auth/refresh-tokens.ts";
import { emailTokens, refreshTokens, sessions, users } from "../../db/schema/index.ts";
import { findScheduledJob } from "../registry.ts";
import { runScheduledJob } from "../scheduled-job.ts";
import { ENDED_SESSION_RETENTION_MS, pruneSessions } from "./prune-sessions.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe.each(DATABASE_BACKENDS)("prune-sessions on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({
      database: backend,
      env: { REFRESH_IDLE_TTL_SECONDS: String(7 * 86_400), SESSION_ABSOLUTE_TTL_SECONDS: String(30 * 86_400) },
    });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("is registered", () => {
    expect(findScheduledJob("prune-sessions")).toBe(pruneSessions);
  });

  test(
    "deletes sessions ended over a day ago and tokens past their " + "lifetime, and keeps used tokens until then",
    async () => {
      const db = runtime.db.primary;
      const { auth } = runtime.config;
      const [user] = await db
        .insert(users)
        .values({ email: `${crypto.randomUUID()}@example.com`, passwordHash: "unused" })
        .returning({ id: users.id });
      const userId = (user as { id: string }).id;
      const now = Date.now();
      const ago = (ms: number) => new Date(now - ms);

      const live = await startSession(db, auth, userId, undefined, ago(HOUR));
      const idle = await startSession(db, auth, userId, undefined, ago(8 * DAY + ENDED_SESSION_RETENTION_MS));
      const expired = await startSession(db, auth, userId, undefined, ago(31 * DAY + ENDED_SESSION_RETENTION_MS));
      const revokedLongAgo = await startSession(db, auth, userId, undefined, ago(3 * DAY));
      const revokedJustNow = await startSession(db, auth, userId, undefined, ago(3 * DAY));
      await db
        .update(sessions)
        .set({ revokedAt: ago(2 * DAY), revokedReason: "logout" })
        .where(eq(sessions.id, revokedLongAgo.sessionId));
      await db
        .update(sessions)
        .set({ revokedAt: ago(HOUR), revokedReason: "logout" })
        .where(eq(sessions.id, revokedJustNow.sessionId));
      // In the live session: a used token still within its lifetime (kept for reuse detection) and a dead one.
      await db
        .update(refreshTokens)
        .set({ usedAt: ago(HOUR / 2) })
        .where(eq(refreshTokens.tokenHash, hashRefreshToken(live.refreshToken)));
      await db.insert(refreshTokens).values({
        tokenHash: hashRefreshToken("dead"),
        sessionId: live.sessionId,
        issuedAt: ago(9 * DAY),
        expiresAt: ago(2 * DAY),
      });

      // E-mail links: one expired over a day ago, one expired just now (kept a day like an ended session).
      const link = (tokenHash: string, expiresAt: Date) => ({
        purpose: "verify_email" as const,
        userId,
        email: "unused@example.com",
        tokenHash,
        expiresAt,
      });
      await db.insert(emailTokens).values([link(`old-${userId}`, ago(2 * DAY)), link(`new-${userId}`, ago(HOUR))]);

      const outcome = await runScheduledJob(runtime, pruneSessions);
      expect(outcome).toEqual({
        status: "succeeded",
        detail: "deleted 3 sessions, 1 refresh tokens, 1 e-mail tokens and 0 challenges",
      });
      const links = await db
        .select({ hash: emailTokens.tokenHash })
        .from(emailTokens)
        .where(eq(emailTokens.userId, userId));
      expect(links).toEqual([{ hash: `new-${userId}` }]);
      const left = (await db.select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, userId)))
        .map((s) => s.id)
        .sort();
      expect(left).toEqual([live.sessionId, revokedJustNow.sessionId].sort());
      for (const gone of [idle, expired, revokedLongAgo]) expect(left).not.toContain(gone.sessionId);
      const tokens = (
        await db
          .select({ hash: refreshTokens.tokenHash })
          .from(refreshTokens)
          .where(eq(refreshTokens.sessionId, live.sessionId))
      ).map((t) => t.hash);
      expect(tokens).toEqual([hashRefreshToken(live.refreshToken)]);
    },
  );
});
