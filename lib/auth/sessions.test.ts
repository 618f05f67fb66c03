import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { sessions, users } from "../db/schema/index.ts";
import { startSession } from "./refresh-tokens.ts";
import { listLiveSessions, revokeSessionsAudited } from "./sessions.ts";

const noEvent = () => undefined;

describe.each(DATABASE_BACKENDS)("sessions on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({
      database: backend,
      env: { REFRESH_IDLE_TTL_SECONDS: "100", SESSION_ABSOLUTE_TTL_SECONDS: "1000" },
    });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("should list only sessions that can still be refreshed, most recently used first", async () => {
    const [user] = await runtime.db.primary
      .insert(users)
      .values({ email: `${crypto.randomUUID()}@example.com`, passwordHash: "unused" })
      .returning({ id: users.id });
    const userId = (user as { id: string }).id;
    const now = Date.now();
    const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000);
    const { auth } = runtime.config;
    const live = await startSession(runtime.db.primary, auth, userId, undefined, at(50));
    const recent = await startSession(runtime.db.primary, auth, userId, undefined, at(10));
    await startSession(runtime.db.primary, auth, userId, undefined, at(101)); // idle too long
    await startSession(runtime.db.primary, auth, userId, undefined, at(1001)); // past its absolute lifetime
    const revoked = await startSession(runtime.db.primary, auth, userId, undefined, at(5));
    await revokeSessionsAudited(runtime, { userId, sessionId: revoked.sessionId }, "revoked", noEvent);

    const listed = await listLiveSessions(runtime.db.primary, auth, userId, new Date(now));
    expect(listed.map((s) => s.id)).toEqual([recent.sessionId, live.sessionId]);
  });

  test("should revoke in the database and in the store, once", async () => {
    const [user] = await runtime.db.primary
      .insert(users)
      .values({ email: `${crypto.randomUUID()}@example.com`, passwordHash: "unused" })
      .returning({ id: users.id });
    const userId = (user as { id: string }).id;
    const a = await startSession(runtime.db.primary, runtime.config.auth, userId);
    const b = await startSession(runtime.db.primary, runtime.config.auth, userId);
    expect((await revokeSessionsAudited(runtime, { userId }, "password_changed", noEvent)).sort()).toEqual(
      [a.sessionId, b.sessionId].sort(),
    );
    expect(await revokeSessionsAudited(runtime, { userId }, "password_changed", noEvent)).toEqual([]);
    const rows = await runtime.db.primary.select().from(sessions).where(eq(sessions.userId, userId));
    expect(rows.map((r) => r.revokedReason)).toEqual(["password_changed", "password_changed"]);
    expect(await runtime.services.identity.revocations.isRevoked(a.sessionId)).toBe(true);
  });
});
