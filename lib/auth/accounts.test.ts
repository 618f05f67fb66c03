import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { auditEvents, sessions, users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import { disableUser, logIn, type SignedIn, signUp } from "./accounts.ts";
import { createPasswordHasher } from "./password-hashing.ts";
import { rotateRefreshToken } from "./refresh-tokens.ts";

const hasher = createPasswordHasher({ memoryCost: 1_024, timeCost: 1 });
const PASSWORD = "correct horse battery";
const codeOf = (error: unknown) => (error instanceof AppError ? error.code : error);

describe.each(DATABASE_BACKENDS)("accounts on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  const email = () => `${crypto.randomUUID()}@example.com`;

  test("two sign-ups for one address at once: one account, one CONFLICT", async () => {
    const address = email();
    const outcomes = await Promise.allSettled([
      signUp(runtime, hasher, { email: address, password: PASSWORD }),
      signUp(runtime, hasher, { email: address, password: PASSWORD }),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const rejected = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    expect(codeOf(rejected.reason)).toBe("CONFLICT");
    expect(await runtime.db.primary.select().from(users).where(eq(users.email, address))).toHaveLength(1);
  });

  test("disableUser should stop logins, refreshes and access tokens, and record who did it", async () => {
    const address = email();
    const { account, session } = await signUp(runtime, hasher, { email: address, password: PASSWORD });
    const other = (await logIn(runtime, hasher, { email: address, password: PASSWORD })) as SignedIn;

    expect(await disableUser(runtime, account.id, { type: "admin" })).toEqual({ revokedSessions: 2 });
    const [user] = await runtime.db.primary.select().from(users).where(eq(users.id, account.id));
    expect(user?.disabled).toBe(true);
    const rows = await runtime.db.primary.select().from(sessions).where(eq(sessions.userId, account.id));
    expect(rows.map((r) => r.revokedReason)).toEqual(["user_disabled", "user_disabled"]);
    for (const id of [session.sessionId, other.session.sessionId])
      expect(await runtime.services.identity.revocations.isRevoked(id)).toBe(true);

    expect(codeOf(await logIn(runtime, hasher, { email: address, password: PASSWORD }).catch((e: unknown) => e))).toBe(
      "UNAUTHORIZED",
    );
    expect(codeOf(await rotateRefreshToken(runtime, session.refreshToken).catch((e: unknown) => e))).toBe(
      "UNAUTHORIZED",
    );
    const [event] = await runtime.db.primary
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "user.disabled"), eq(auditEvents.targetId, account.id)));
    expect(event).toMatchObject({ actorType: "admin", targetType: "user", metadata: { revokedSessions: 2 } });
    const [failure] = await runtime.db.primary
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "user.login.failed"), eq(auditEvents.targetId, account.id)));
    expect(failure?.metadata).toEqual({ reason: "disabled" });
  });

  test("disableUser of an unknown or malformed id is NOT_FOUND", async () => {
    for (const id of [crypto.randomUUID(), "not-a-uuid"])
      expect(codeOf(await disableUser(runtime, id, { type: "admin" }).catch((e: unknown) => e))).toBe("NOT_FOUND");
  });

  test("a login rehashes a password stored at an older cost", async () => {
    const address = email();
    const older = createPasswordHasher({ memoryCost: 512, timeCost: 1 });
    await signUp(runtime, older, { email: address, password: PASSWORD });
    await logIn(runtime, hasher, { email: address, password: PASSWORD });
    const [user] = await runtime.db.primary.select().from(users).where(eq(users.email, address));
    expect(user?.passwordHash).toStartWith("$argon2id$v=19$m=1024,t=1,p=1$");
    await logIn(runtime, hasher, { email: address, password: PASSWORD });
  });
});
