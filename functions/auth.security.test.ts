import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { eq } from "drizzle-orm";
import { disableUser } from "../lib/auth/accounts.ts";
import { DEFAULT_PASSWORD_HASHING } from "../lib/auth/password-hashing.ts";
import { hashRefreshToken } from "../lib/auth/refresh-tokens.ts";
import { DEFAULT_NEGATIVE_CACHE_MS } from "../lib/auth/session-revocation.ts";
import { auditEvents, refreshTokens, sessions, users } from "../lib/db/schema/index.ts";
import { buildApp } from "../lib/http/app.ts";
import { deriveRuntime } from "../lib/runtime/runtime.ts";
import {
  type AuthTestApp,
  authClient,
  errorOf,
  FAST_HASHING,
  freshEmail,
  freshIp,
  openAuthTestApp,
  PASSWORD,
} from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, STORE_BACKENDS } from "../test/backends.ts";
import { createAuthRoutes } from "./auth.ts";
import me from "./me.ts";

describe.each(DATABASE_BACKENDS)("auth routes on %s: security", (backend) => {
  let t: AuthTestApp;
  beforeAll(async () => {
    t = await openAuthTestApp({ database: backend });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());
  afterEach(() => setSystemTime());

  test("a used refresh token presented again is 401 TOKEN_REUSED and revokes the whole family", async () => {
    const first = await t.client.signUp();
    const second = await t.client.refreshed(first.refreshToken);

    const replay = await t.client.refresh(first.refreshToken);
    expect(replay.status).toBe(401);
    expect(await errorOf(replay)).toMatchObject({
      code: "TOKEN_REUSED",
      message: "This refresh token was already used; the session has been revoked.",
    });

    // The legitimate holder's current token and access token die with the family.
    const next = await t.client.refresh(second.refreshToken);
    expect(next.status).toBe(401);
    expect((await errorOf(next)).code).toBe("UNAUTHORIZED");
    expect((await t.client.me(second.accessToken)).status).toBe(401);

    const [session] = await t.runtime.db.primary.select().from(sessions).where(eq(sessions.userId, first.user.id));
    expect(session).toMatchObject({ revokedReason: "token_reused", revokedAt: expect.any(Date) });
    const reuse = (
      await t.runtime.db.primary.select().from(auditEvents).where(eq(auditEvents.action, "session.token_reused"))
    ).find((e) => e.targetId === session?.id);
    expect(reuse).toMatchObject({
      actorType: "anonymous",
      targetType: "session",
      metadata: { userId: first.user.id, familyRevoked: true },
    });
    expect(reuse?.requestId).toBe(replay.headers.get("x-request-id"));
  });

  test("two concurrent refreshes of one token: exactly one succeeds", async () => {
    const tokens = await t.client.signUp();
    const responses = await Promise.all([t.client.refresh(tokens.refreshToken), t.client.refresh(tokens.refreshToken)]);
    expect(responses.map((r) => r.status).sort()).toEqual([200, 401]);
    const loser = responses.find((r) => r.status === 401) as Response;
    // The loser looks exactly like a replay, so the family is revoked: clients must serialise refreshes.
    expect((await errorOf(loser)).code).toBe("TOKEN_REUSED");
    const issued = await t.runtime.db.primary
      .select()
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .where(eq(sessions.userId, tokens.user.id));
    expect(issued).toHaveLength(2);
  });

  test("five concurrent refreshes of one token still issue exactly one successor", async () => {
    const tokens = await t.client.signUp();
    const responses = await Promise.all(Array.from({ length: 5 }, () => t.client.refresh(tokens.refreshToken)));
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1);
    const issued = await t.runtime.db.primary
      .select()
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .where(eq(sessions.userId, tokens.user.id));
    expect(issued).toHaveLength(2);
  });

  test("logging out with an older token of the family ends the session too", async () => {
    const first = await t.client.signUp();
    const second = await t.client.refreshed(first.refreshToken);
    expect(
      (await t.client.call("POST", "/v1/auth/logout", { body: { refreshToken: first.refreshToken } })).status,
    ).toBe(204);
    expect((await t.client.refresh(second.refreshToken)).status).toBe(401);
    expect((await t.client.me(second.accessToken)).status).toBe(401);
  });

  test(
    "a revoked session's access token is refused at once here, and " + "elsewhere within the negative-cache bound",
    async () => {
      const tokens = await t.client.signUp();
      // Another instance: same database and store, its own revocation cache.
      const elsewhere = authClient(
        buildApp(deriveRuntime(t.runtime, {}), [createAuthRoutes({ passwordHashing: FAST_HASHING }), me]),
      );
      expect((await elsewhere.me(tokens.accessToken)).status).toBe(200);

      expect(
        (await t.client.call("POST", "/v1/auth/logout", { body: { refreshToken: tokens.refreshToken } })).status,
      ).toBe(204);
      expect((await t.client.me(tokens.accessToken)).status).toBe(401);
      const fresh = authClient(buildApp(deriveRuntime(t.runtime, {}), [me]));
      expect((await fresh.me(tokens.accessToken)).status).toBe(401);

      // The instance that saw the session alive just now may keep believing so for DEFAULT_NEGATIVE_CACHE_MS.
      const started = Date.now();
      expect((await elsewhere.me(tokens.accessToken)).status).toBe(200);
      setSystemTime(new Date(started + DEFAULT_NEGATIVE_CACHE_MS + 1));
      expect((await elsewhere.me(tokens.accessToken)).status).toBe(401);
    },
  );

  test("refresh tokens are stored only as SHA-256 digests and passwords only as argon2id hashes", async () => {
    const email = freshEmail();
    const tokens = await t.client.signUp(email);
    const rows = await t.runtime.db.primary
      .select()
      .from(refreshTokens)
      .innerJoin(sessions, eq(sessions.id, refreshTokens.sessionId))
      .where(eq(sessions.userId, tokens.user.id));
    expect(rows.map((row) => row.refresh_tokens.tokenHash)).toEqual([hashRefreshToken(tokens.refreshToken)]);
    expect(JSON.stringify(rows)).not.toContain(tokens.refreshToken);
    const [user] = await t.runtime.db.primary.select().from(users).where(eq(users.email, email));
    expect(user?.passwordHash).toStartWith(
      `$argon2id$v=19$m=${FAST_HASHING.memoryCost},t=${FAST_HASHING.timeCost},p=1$`,
    );
    expect(user?.passwordHash).not.toContain(PASSWORD);
  });

  test("a disabled account's correct password gets exactly the answer a wrong one gets", async () => {
    const email = freshEmail();
    const tokens = await t.client.signUp(email);
    await disableUser(t.runtime, tokens.user.id, { type: "admin" });
    const disabled = await t.client.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
    const wrong = await t.client.call("POST", "/v1/auth/login", { body: { email, password: "not the password" } });
    expect([disabled.status, wrong.status]).toEqual([401, 401]);
    const strip = ({ requestId: _r, timestamp: _t, ...rest }: Awaited<ReturnType<typeof errorOf>>) => rest;
    expect(strip(await errorOf(disabled))).toEqual(strip(await errorOf(wrong)));
  });

  test("login is limited per address (10 a minute) and per e-mail across addresses (10 per 15 minutes)", async () => {
    const ip = freshIp();
    for (let i = 0; i < 10; i++)
      expect(
        (await t.client.call("POST", "/v1/auth/login", { ip, body: { email: freshEmail(), password: PASSWORD } }))
          .status,
      ).toBe(401);
    const limited = await t.client.call("POST", "/v1/auth/login", {
      ip,
      body: { email: freshEmail(), password: PASSWORD },
    });
    expect(limited.status).toBe(429);
    expect((await errorOf(limited)).code).toBe("RATE_LIMITED");

    const email = freshEmail();
    await t.client.signUp(email);
    // Each attempt from a new address, the address in any case: one bucket, the normalised e-mail.
    for (let i = 0; i < 10; i++) {
      const variant = i % 2 === 0 ? email.toUpperCase() : ` ${email}`;
      expect(
        (await t.client.call("POST", "/v1/auth/login", { body: { email: variant, password: "guess number one" } }))
          .status,
      ).toBe(401);
    }
    // Now even the right password is refused, before any password work, with the time to wait.
    const blocked = await t.client.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(blocked.headers.get("ratelimit-policy")).toBe("10;w=900");
    // Other accounts are unaffected.
    await t.client.logIn((await t.client.signUp()).user.email);
  });

  test("sign-up is limited per address", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) await t.client.signUp(freshEmail(), PASSWORD, { ip });
    const limited = await t.client.call("POST", "/v1/auth/signup", {
      ip,
      body: { email: freshEmail(), password: PASSWORD },
    });
    expect(limited.status).toBe(429);
  });

  test("no password, refresh token or access token reaches a log line or an audit row", async () => {
    const email = freshEmail();
    const newPassword = "the second passphrase";
    const secrets = [PASSWORD, newPassword, "wrong-password-123"];
    const first = await t.client.signUp(email);
    const login = await t.client.logIn(email);
    await t.client.call("POST", "/v1/auth/login", { body: { email, password: "wrong-password-123" } });
    await t.client.call("POST", "/v1/auth/login", { body: { email: freshEmail(), password: PASSWORD } });
    await t.client.call("POST", "/v1/auth/signup", { body: { email: freshEmail(), password: "short" } });
    const rotated = await t.client.refreshed(login.refreshToken);
    const changed = await t.client.call("POST", "/v1/auth/password", {
      token: rotated.accessToken,
      body: { currentPassword: PASSWORD, newPassword },
    });
    expect(changed.status).toBe(200);
    const fresh = (await changed.json()) as { accessToken: string; refreshToken: string };
    expect((await t.client.refresh(login.refreshToken)).status).toBe(401);
    await t.client.call("GET", "/v1/auth/sessions", { token: fresh.accessToken });
    await t.client.call("POST", "/v1/auth/logout", { body: { refreshToken: fresh.refreshToken } });
    secrets.push(
      first.accessToken,
      first.refreshToken,
      login.accessToken,
      login.refreshToken,
      rotated.accessToken,
      rotated.refreshToken,
      fresh.accessToken,
      fresh.refreshToken,
    );

    const logged = t.runtime.logLines.join("\n");
    const audited = JSON.stringify(await t.runtime.db.primary.select().from(auditEvents));
    expect(audited).toContain("user.login.failed");
    for (const secret of secrets) {
      expect(logged).not.toContain(secret);
      expect(audited).not.toContain(secret);
    }
  });
});

describe("login timing at the production hashing cost", () => {
  let t: AuthTestApp;
  beforeAll(async () => {
    t = await openAuthTestApp({ hashing: DEFAULT_PASSWORD_HASHING });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());

  test("an unknown e-mail and a wrong password get the same status and body, in about the same time", async () => {
    const email = freshEmail();
    await t.client.signUp(email);
    const unknown = freshEmail();
    const attempt = async (body: { email: string; password: string }) => {
      const started = performance.now();
      const response = await t.client.call("POST", "/v1/auth/login", { body });
      const elapsed = performance.now() - started;
      const { requestId: _r, timestamp: _t, ...error } = await errorOf(response);
      return { status: response.status, error, elapsed };
    };
    const wrong: number[] = [];
    const missing: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await attempt({ email, password: "not the password" });
      const b = await attempt({ email: unknown, password: "not the password" });
      expect(b.status).toBe(a.status);
      expect(b.error).toEqual(a.error);
      wrong.push(a.elapsed);
      missing.push(b.elapsed);
    }
    const median = (values: number[]) => values.sort((x, y) => x - y)[Math.floor(values.length / 2)] as number;
    const ratio = median(missing) / median(wrong);
    // Without the dummy hash the unknown address answers in a few ms against ~70: a ratio near 0.05. The
    // bounds are wide because a loaded machine stretches single logins.
    expect(ratio).toBeGreaterThan(0.4);
    expect(ratio).toBeLessThan(2.5);
    // Eleven logins at ~70 ms each, slower on a loaded machine.
  }, 30_000);
});

describe.each(STORE_BACKENDS)("auth routes with the %s store", (store) => {
  let t: AuthTestApp;
  beforeAll(async () => {
    t = await openAuthTestApp({ store });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());

  test("a logout reaches every instance through the store, and the e-mail limit counts across them", async () => {
    const email = freshEmail();
    const tokens = await t.client.signUp(email);
    expect(
      (await t.client.call("POST", "/v1/auth/logout", { body: { refreshToken: tokens.refreshToken } })).status,
    ).toBe(204);
    const other = authClient(
      buildApp(deriveRuntime(t.runtime, {}), [createAuthRoutes({ passwordHashing: FAST_HASHING }), me]),
    );
    expect((await other.me(tokens.accessToken)).status).toBe(401);

    for (let i = 0; i < 10; i++) {
      const client = i % 2 === 0 ? t.client : other;
      expect((await client.call("POST", "/v1/auth/login", { body: { email, password: "a wrong guess" } })).status).toBe(
        401,
      );
    }
    // Only a shared store makes the two instances' counts one.
    const eleventh = await other.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
    expect(eleventh.status).toBe(store === "upstash" ? 429 : 200);
  });
});
