import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { auditEvents, sessions } from "../lib/db/schema/index.ts";
import { type AuthTestApp, errorOf, freshEmail, openAuthTestApp, PASSWORD } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS } from "../test/backends.ts";

const FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:121.0) Gecko/20100101 Firefox/121.0";
const CHROME_ANDROID =
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile " +
  "Safari/537.36";

describe.each(DATABASE_BACKENDS)("auth routes on %s: the happy path", (backend) => {
  let t: AuthTestApp;
  beforeAll(async () => {
    t = await openAuthTestApp({ database: backend });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());

  const auditActions = async (targetId: string) =>
    (
      await t.runtime.db.primary
        .select({ action: auditEvents.action })
        .from(auditEvents)
        .where(eq(auditEvents.targetId, targetId))
    ).map((row) => row.action);

  test("sign-up answers 201 with a token pair for the normalised address, and /v1/me knows the user", async () => {
    const email = freshEmail();
    const tokens = await t.client.signUp(`  ${email.toUpperCase()} `);
    expect(tokens).toMatchObject({ expiresIn: 900, user: { email } });
    expect(tokens.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const me = await t.client.me(tokens.accessToken);
    expect(me.status).toBe(200);
    const body = (await me.json()) as { id: string; email: string; createdAt: string };
    expect(body).toEqual({ id: tokens.user.id, email, createdAt: expect.any(String) });
    expect(Date.now() - Date.parse(body.createdAt)).toBeLessThan(60_000);
    expect(await auditActions(tokens.user.id)).toContain("user.signup");
  });

  test("login opens a second session; refresh rotates its token and keeps the user", async () => {
    const email = freshEmail();
    const first = await t.client.signUp(email);
    const login = await t.client.logIn(email);
    expect(login.user).toEqual(first.user);
    expect((await t.client.me(login.accessToken)).status).toBe(200);

    const rotated = await t.client.refreshed(login.refreshToken);
    expect(rotated.user).toEqual(first.user);
    expect(rotated.refreshToken).not.toBe(login.refreshToken);
    expect(rotated.accessToken).not.toBe(login.accessToken);
    expect((await t.client.me(rotated.accessToken)).status).toBe(200);
    // Rotation does not end the session: the access token issued before it stays good until it expires.
    expect((await t.client.me(login.accessToken)).status).toBe(200);
    // And the next rotation works from the new token.
    expect((await t.client.refreshed(rotated.refreshToken)).user).toEqual(first.user);

    const actions = await auditActions(first.user.id);
    expect(actions).toContain("user.login.succeeded");
    const refreshes = await t.runtime.db.primary
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "session.refreshed"), eq(auditEvents.actorId, first.user.id)));
    expect(refreshes).toHaveLength(2);
  });

  test("logout ends the session: its refresh token and its access token stop working", async () => {
    const tokens = await t.client.signUp();
    const logout = await t.client.call("POST", "/v1/auth/logout", { body: { refreshToken: tokens.refreshToken } });
    expect(logout.status).toBe(204);
    expect(await logout.text()).toBe("");
    const refresh = await t.client.refresh(tokens.refreshToken);
    expect(refresh.status).toBe(401);
    expect((await errorOf(refresh)).code).toBe("UNAUTHORIZED");
    expect((await t.client.me(tokens.accessToken)).status).toBe(401);
    const [session] = await t.runtime.db.primary.select().from(sessions).where(eq(sessions.userId, tokens.user.id));
    expect(session).toMatchObject({ revokedReason: "logout" });
    expect(await auditActions(session?.id ?? "")).toContain("session.logout");
  });

  test("the sessions list shows each live session with its device and address, and marks the caller's", async () => {
    const email = freshEmail();
    const laptop = await t.client.signUp(email, PASSWORD, { userAgent: FIREFOX_MAC, ip: "198.51.100.7" });
    const phone = await t.client.logIn(email, PASSWORD, { userAgent: CHROME_ANDROID, ip: "203.0.113.9" });
    const response = await t.client.call("GET", "/v1/auth/sessions", { token: phone.accessToken });
    expect(response.status).toBe(200);
    const { sessions: listed } = (await response.json()) as {
      sessions: { id: string; device: string; ip: string; createdAt: string; lastUsedAt: string; current: boolean }[];
    };
    expect(listed).toHaveLength(2);
    expect(
      listed
        .map(({ device, ip, current }) => ({ device, ip, current }))
        .sort((a, b) => a.device.localeCompare(b.device)),
    ).toEqual([
      { device: "Chrome on Android", ip: "203.0.113.9", current: true },
      { device: "Firefox on macOS", ip: "198.51.100.7", current: false },
    ]);
    for (const session of listed)
      expect(Object.keys(session).sort()).toEqual(["createdAt", "current", "device", "id", "ip", "lastUsedAt"]);

    // Revoking the laptop's session from the phone.
    const laptopSession = listed.find((s) => !s.current)?.id ?? "";
    const revoke = await t.client.call("DELETE", `/v1/auth/sessions/${laptopSession}`, { token: phone.accessToken });
    expect(revoke.status).toBe(204);
    expect((await t.client.refresh(laptop.refreshToken)).status).toBe(401);
    expect((await t.client.me(laptop.accessToken)).status).toBe(401);
    expect((await t.client.me(phone.accessToken)).status).toBe(200);
    const after = (await (await t.client.call("GET", "/v1/auth/sessions", { token: phone.accessToken })).json()) as {
      sessions: { id: string }[];
    };
    expect(after.sessions.map((s) => s.id)).not.toContain(laptopSession);
    expect(await auditActions(laptopSession)).toContain("session.revoked");
  });

  test("a password change revokes every session, opens a fresh one, and only the new password logs in", async () => {
    const email = freshEmail();
    const first = await t.client.signUp(email);
    const second = await t.client.logIn(email);
    const newPassword = "a much better passphrase";
    const response = await t.client.call("POST", "/v1/auth/password", {
      token: first.accessToken,
      body: { currentPassword: PASSWORD, newPassword },
    });
    expect(response.status).toBe(200);
    const fresh = (await response.json()) as { accessToken: string; refreshToken: string; user: { id: string } };
    expect(fresh.user.id).toBe(first.user.id);

    for (const old of [first, second]) {
      expect((await t.client.me(old.accessToken)).status).toBe(401);
      expect((await t.client.refresh(old.refreshToken)).status).toBe(401);
    }
    expect((await t.client.me(fresh.accessToken)).status).toBe(200);
    expect((await t.client.refresh(fresh.refreshToken)).status).toBe(200);
    expect((await t.client.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(401);
    await t.client.logIn(email, newPassword);

    const [event] = await t.runtime.db.primary
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "user.password.changed"), eq(auditEvents.targetId, first.user.id)));
    expect(event?.metadata).toEqual({ revokedSessions: 2 });
  });
});
