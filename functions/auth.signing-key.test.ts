/**
 * A signing key that ENCRYPTION_KEYS cannot decrypt (the keys were changed under a database that holds
 * one): sign-up, login, refresh and password change answer 503 and write nothing, readiness says why, and
 * the same requests succeed once the keys are fixed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { loadConfig } from "../lib/config/config.ts";
import type { Database } from "../lib/db/database.ts";
import { sessions, signingKeys, users } from "../lib/db/schema/index.ts";
import { buildApp } from "../lib/http/app.ts";
import { createLogger } from "../lib/log/logger.ts";
import { openRuntime } from "../lib/runtime/runtime.ts";
import { MemoryStore } from "../lib/store/memory-store.ts";
import { type AuthClient, authClient, errorOf, FAST_HASHING, freshEmail, PASSWORD } from "../test/auth-client.ts";
import { DATABASE_BACKENDS, openTestDatabase } from "../test/backends.ts";
import { createAuthRoutes } from "./auth.ts";
import health from "./health.ts";
import me from "./me.ts";

const randomKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const ORIGINAL = `v1:${randomKey()}`;
// Same version, other material: the mistake that is easiest to make when copying keys between environments.
const WRONG = `v1:${randomKey()}`;

describe.each(DATABASE_BACKENDS)("auth routes on %s with a signing key ENCRYPTION_KEYS cannot decrypt", (backend) => {
  let db: Database;
  let kid: string;
  let issued: { email: string; refreshToken: string; accessToken: string };

  const clientWith = async (
    encryptionKeys: string,
  ): Promise<{ client: AuthClient; app: ReturnType<typeof buildApp> }> => {
    const config = loadConfig({ NODE_ENV: "test", TRUST_PROXY: "1", ENCRYPTION_KEYS: encryptionKeys });
    const runtime = await openRuntime(config, {
      db,
      store: new MemoryStore(),
      logger: createLogger({ sink: () => {} }),
    });
    const app = buildApp(runtime, [createAuthRoutes({ passwordHashing: FAST_HASHING }), me, health]);
    return { client: authClient(app), app };
  };
  const usersNamed = (email: string) => db.primary.select({ id: users.id }).from(users).where(eq(users.email, email));

  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await db.migrate();
    const { client, app } = await clientWith(ORIGINAL);
    const email = freshEmail();
    const tokens = await client.signUp(email);
    issued = { email, refreshToken: tokens.refreshToken, accessToken: tokens.accessToken };
    expect((await app.fetch(new Request("http://localhost/health/ready"))).status).toBe(200);
    const [current] = await db.primary
      .select({ kid: signingKeys.kid })
      .from(signingKeys)
      .where(eq(signingKeys.state, "current"));
    kid = current?.kid ?? "";
  }, 60_000);
  afterAll(() => db.close());

  test("sign-up is 503 SIGNING_KEY_UNAVAILABLE and leaves no account; after " +
    "the keys are fixed the same sign-up is 201", async () => {
    const { client } = await clientWith(WRONG);
    const email = freshEmail();
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await client.call("POST", "/v1/auth/signup", { body: { email, password: PASSWORD } });
      expect(response.status).toBe(503);
      expect(await errorOf(response)).toMatchObject({ code: "SIGNING_KEY_UNAVAILABLE" });
      expect(await usersNamed(email)).toEqual([]);
    }
    const fixed = await clientWith(`v2:${randomKey()},${ORIGINAL}`);
    const signedUp = await fixed.client.signUp(email);
    expect(await usersNamed(email)).toEqual([{ id: signedUp.user.id }]);
  }, 30_000);

  test("/health/ready is 503 naming ENCRYPTION_KEYS, the key version and the kid, and no key material", async () => {
    const { app } = await clientWith(WRONG);
    const response = await app.fetch(new Request("http://localhost/health/ready"));
    const text = await response.text();
    expect(response.status).toBe(503);
    const body = JSON.parse(text) as { status: string; checks: { signingKeys: Record<string, string> } };
    expect(body.status).toBe("not_ready");
    expect(body.checks.signingKeys).toEqual({
      status: "down",
      kid,
      error:
        `ENCRYPTION_KEYS cannot decrypt the current signing key (kid ${kid}): ` +
        "the key ENCRYPTION_KEYS gives for version v1 is not the one it was encrypted with",
    });
    for (const secret of [ORIGINAL, WRONG]) expect(text).not.toContain(secret.slice(3));
  }, 30_000);

  test("login, refresh and password change are 503 and change nothing; the " +
    "refresh token still works after the fix", async () => {
    const { client } = await clientWith(WRONG);
    const [account] = await usersNamed(issued.email);
    const sessionsBefore = await db.primary
      .select({ id: sessions.id, revokedAt: sessions.revokedAt })
      .from(sessions)
      .where(eq(sessions.userId, account?.id ?? ""));

    const login = await client.call("POST", "/v1/auth/login", { body: { email: issued.email, password: PASSWORD } });
    const refresh = await client.refresh(issued.refreshToken);
    // The access token from before still verifies: only signing needs the private key.
    const change = await client.call("POST", "/v1/auth/password", {
      token: issued.accessToken,
      body: { currentPassword: PASSWORD, newPassword: "a brand new password" },
    });
    for (const response of [login, refresh, change]) {
      expect(response.status).toBe(503);
      expect(await errorOf(response)).toMatchObject({ code: "SIGNING_KEY_UNAVAILABLE" });
    }
    const sessionsAfter = await db.primary
      .select({ id: sessions.id, revokedAt: sessions.revokedAt })
      .from(sessions)
      .where(eq(sessions.userId, account?.id ?? ""));
    expect(sessionsAfter).toEqual(sessionsBefore);

    const fixed = await clientWith(ORIGINAL);
    const refreshed = await fixed.client.refreshed(issued.refreshToken);
    expect(refreshed.user.email).toBe(issued.email);
    await fixed.client.logIn(issued.email, PASSWORD);
  }, 30_000);
});
