import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { eq } from "drizzle-orm";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { refreshTokens, sessions, users } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import {
  generateRefreshToken,
  hashRefreshToken,
  REFRESH_TOKEN_PATTERN,
  rotateRefreshToken,
  startSession,
} from "./refresh-tokens.ts";

test("refresh tokens should be 32 random bytes in base64url, hashed with SHA-256", () => {
  const tokens = new Set(Array.from({ length: 100 }, generateRefreshToken));
  expect(tokens.size).toBe(100);
  for (const token of tokens) expect(token).toMatch(REFRESH_TOKEN_PATTERN);
  expect(hashRefreshToken("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

describe.each(DATABASE_BACKENDS)("refresh token families on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({
      database: backend,
      env: { REFRESH_IDLE_TTL_SECONDS: "100", SESSION_ABSOLUTE_TTL_SECONDS: "150" },
    });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());
  afterEach(() => setSystemTime());

  const newUser = async () => {
    const [user] = await runtime.db.primary
      .insert(users)
      .values({ email: `${crypto.randomUUID()}@example.com`, passwordHash: "unused" })
      .returning({ id: users.id });
    return (user as { id: string }).id;
  };
  const tokenRow = async (token: string) =>
    (
      await runtime.db.primary
        .select()
        .from(refreshTokens)
        .where(eq(refreshTokens.tokenHash, hashRefreshToken(token)))
    )[0];

  test("should start a session with an absolute expiry and a first token bounded by the idle lifetime", async () => {
    const userId = await newUser();
    const now = new Date("2026-11-25T10:00:00.000Z");
    const { sessionId, refreshToken } = await startSession(
      runtime.db.primary,
      runtime.config.auth,
      userId,
      undefined,
      now,
    );
    const [session] = await runtime.db.primary.select().from(sessions).where(eq(sessions.id, sessionId));
    expect(session).toMatchObject({
      userId,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + 150_000),
      revokedAt: null,
      device: null,
      ip: null,
    });
    expect(await tokenRow(refreshToken)).toMatchObject({
      sessionId,
      issuedAt: now,
      expiresAt: new Date(now.getTime() + 100_000),
      usedAt: null,
    });
  });

  test("should never issue a token that outlives its session", async () => {
    const userId = await newUser();
    const start = Date.now();
    const { sessionId, refreshToken } = await startSession(runtime.db.primary, runtime.config.auth, userId);
    setSystemTime(new Date(start + 90_000));
    const rotated = await rotateRefreshToken(runtime, refreshToken);
    expect(rotated).toMatchObject({ sessionId, userId });
    const [session] = await runtime.db.primary.select().from(sessions).where(eq(sessions.id, sessionId));
    expect((await tokenRow(rotated.refreshToken))?.expiresAt).toEqual(session?.expiresAt as Date);
    expect((await tokenRow(refreshToken))?.usedAt).toBeInstanceOf(Date);
    expect(session?.lastUsedAt.getTime()).toBeGreaterThanOrEqual(start + 90_000);
  });

  test("should refuse a token of a disabled account without using it up", async () => {
    const userId = await newUser();
    const { refreshToken } = await startSession(runtime.db.primary, runtime.config.auth, userId);
    await runtime.db.primary.update(users).set({ disabled: true }).where(eq(users.id, userId));
    const refused = await rotateRefreshToken(runtime, refreshToken).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect((refused as AppError).code).toBe("UNAUTHORIZED");
    expect((await tokenRow(refreshToken))?.usedAt).toBeNull();
  });
});
