import { afterAll, afterEach, beforeAll, describe, expect, setSystemTime, test } from "bun:test";
import { eq } from "drizzle-orm";
import { INVALID_CREDENTIALS_MESSAGE } from "../lib/auth/accounts.ts";
import { users } from "../lib/db/schema/index.ts";
import { type AuthTestApp, errorOf, freshEmail, openAuthTestApp, PASSWORD } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS } from "../test/backends.ts";

const SECOND = 1_000;
// Short lifetimes through the environment; the clock is moved rather than waited on.
const IDLE_TTL_SECONDS = 60;
const ABSOLUTE_TTL_SECONDS = 150;

describe.each(DATABASE_BACKENDS)("auth routes on %s: refusals", (backend) => {
  let t: AuthTestApp;
  beforeAll(async () => {
    t = await openAuthTestApp({
      database: backend,
      env: {
        REFRESH_IDLE_TTL_SECONDS: String(IDLE_TTL_SECONDS),
        SESSION_ABSOLUTE_TTL_SECONDS: String(ABSOLUTE_TTL_SECONDS),
      },
    });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());
  afterEach(() => setSystemTime());

  const fieldsOf = async (response: Response) => {
    expect(response.status).toBe(422);
    const error = await errorOf(response);
    expect(error.code).toBe("VALIDATION_FAILED");
    return error.details?.fields ?? [];
  };

  test("a second sign-up for the same address, in any case or padding, is 409 and creates nothing", async () => {
    const email = freshEmail();
    const first = await t.client.signUp(email);
    for (const variant of [email, email.toUpperCase(), ` ${email}\t`]) {
      const response = await t.client.call("POST", "/v1/auth/signup", {
        body: { email: variant, password: "another good password" },
      });
      expect(response.status).toBe(409);
      expect(await errorOf(response)).toMatchObject({
        code: "CONFLICT",
        message: "An account with this e-mail address already exists.",
      });
    }
    const rows = await t.runtime.db.primary.select({ id: users.id }).from(users).where(eq(users.email, email));
    expect(rows).toEqual([{ id: first.user.id }]);
  });

  test("weak passwords are 422 with the reason on the password field, and the password is never echoed", async () => {
    const email = freshEmail();
    const cases = [
      ["short pw", "password must be at least 10 characters"],
      ["x".repeat(129), "password must be at most 128 characters"],
      [" \t ".repeat(5), "password must not be only whitespace"],
      [email.toUpperCase(), "password must not be the e-mail address"],
    ] as const;
    for (const [password, message] of cases) {
      const response = await t.client.call("POST", "/v1/auth/signup", { body: { email, password } });
      const text = await response.clone().text();
      expect(await fieldsOf(response)).toEqual([{ path: "password", message }]);
      if (password.trim() !== "") expect(text).not.toContain(password);
    }
    expect(await t.runtime.db.primary.select().from(users).where(eq(users.email, email))).toEqual([]);
  });

  test("a malformed address, a missing field or an unknown key is 422 naming the field", async () => {
    const cases = [
      [{ email: "not-an-address", password: PASSWORD }, "email"],
      [{ email: `${"a".repeat(250)}@example.com`, password: PASSWORD }, "email"],
      [{ password: PASSWORD }, "email"],
      [{ email: freshEmail(), password: PASSWORD, admin: true }, "admin"],
    ] as const;
    for (const [body, path] of cases) {
      for (const route of ["/v1/auth/signup", "/v1/auth/login"]) {
        const fields = await fieldsOf(await t.client.call("POST", route, { body }));
        expect(fields.map((f) => f.path)).toEqual([path]);
      }
    }
  });

  test("a wrong password and an unknown address are both 401 with one message", async () => {
    const email = freshEmail();
    await t.client.signUp(email);
    for (const body of [
      { email, password: "not the password" },
      { email: freshEmail(), password: PASSWORD },
    ]) {
      const response = await t.client.call("POST", "/v1/auth/login", { body });
      expect(response.status).toBe(401);
      expect(await errorOf(response)).toMatchObject({ code: "UNAUTHORIZED", message: INVALID_CREDENTIALS_MESSAGE });
    }
  });

  test("refresh: an unknown token is 401, a malformed one 422", async () => {
    const unknown = await t.client.refresh("A".repeat(43));
    expect(unknown.status).toBe(401);
    expect((await errorOf(unknown)).code).toBe("UNAUTHORIZED");
    for (const refreshToken of ["short", "A".repeat(44), `${"A".repeat(42)}=`]) {
      expect((await fieldsOf(await t.client.refresh(refreshToken))).map((f) => f.path)).toEqual(["refreshToken"]);
    }
  });

  test("a refresh token unused for longer than the idle lifetime is dead", async () => {
    const tokens = await t.client.signUp();
    setSystemTime(new Date(Date.now() + (IDLE_TTL_SECONDS + 1) * SECOND));
    const response = await t.client.refresh(tokens.refreshToken);
    expect(response.status).toBe(401);
    expect((await errorOf(response)).code).toBe("UNAUTHORIZED");
    // A dead token is not "used": presenting it again is not mistaken for reuse.
    expect((await errorOf(await t.client.refresh(tokens.refreshToken))).code).toBe("UNAUTHORIZED");
  });

  test("refreshing keeps a session past its idle lifetime, but never past its absolute one", async () => {
    const start = Date.now();
    let { refreshToken } = await t.client.signUp();
    for (const at of [50, 100, 145]) {
      setSystemTime(new Date(start + at * SECOND));
      ({ refreshToken } = await t.client.refreshed(refreshToken));
    }
    setSystemTime(new Date(start + (ABSOLUTE_TTL_SECONDS + 1) * SECOND));
    const response = await t.client.refresh(refreshToken);
    expect(response.status).toBe(401);
    expect((await errorOf(response)).code).toBe("UNAUTHORIZED");
  });

  test("routes for signed-in users are 401 without a valid access token", async () => {
    const tokens = await t.client.signUp();
    const tampered = `${tokens.accessToken.slice(0, -1)}${tokens.accessToken.endsWith("A") ? "Q" : "A"}`;
    for (const token of [undefined, "not-a-jwt", tokens.refreshToken, tampered]) {
      for (const [method, path] of [
        ["GET", "/v1/me"],
        ["GET", "/v1/auth/sessions"],
        ["DELETE", `/v1/auth/sessions/${crypto.randomUUID()}`],
      ] as const) {
        const response = await t.client.call(method, path, { token });
        expect(response.status).toBe(401);
        expect((await errorOf(response)).code).toBe("UNAUTHORIZED");
      }
    }
  });

  test("revoking a session that is not the caller's, or not live, is 404; a malformed id is 422", async () => {
    const alice = await t.client.signUp();
    const bob = await t.client.signUp();
    const [bobSession] = (await (await t.client.call("GET", "/v1/auth/sessions", { token: bob.accessToken })).json())
      .sessions as { id: string }[];
    for (const id of [bobSession?.id, crypto.randomUUID()]) {
      const response = await t.client.call("DELETE", `/v1/auth/sessions/${id}`, { token: alice.accessToken });
      expect(response.status).toBe(404);
      expect((await errorOf(response)).code).toBe("NOT_FOUND");
    }
    expect((await t.client.me(bob.accessToken)).status).toBe(200);
    expect((await t.client.refresh(bob.refreshToken)).status).toBe(200);

    const [aliceSession] = (
      await (await t.client.call("GET", "/v1/auth/sessions", { token: alice.accessToken })).json()
    ).sessions as { id: string }[];
    const other = await t.client.logIn(alice.user.email);
    expect(
      (await t.client.call("DELETE", `/v1/auth/sessions/${aliceSession?.id}`, { token: other.accessToken })).status,
    ).toBe(204);
    expect(
      (await t.client.call("DELETE", `/v1/auth/sessions/${aliceSession?.id}`, { token: other.accessToken })).status,
    ).toBe(404);
    expect(
      (await fieldsOf(await t.client.call("DELETE", "/v1/auth/sessions/not-a-uuid", { token: other.accessToken }))).map(
        (f) => f.path,
      ),
    ).toEqual(["id"]);
  });

  test("a password change with the wrong current password is 403 and changes nothing", async () => {
    const email = freshEmail();
    const tokens = await t.client.signUp(email);
    const response = await t.client.call("POST", "/v1/auth/password", {
      token: tokens.accessToken,
      body: { currentPassword: "wrong password", newPassword: "a brand new password" },
    });
    expect(response.status).toBe(403);
    expect(await errorOf(response)).toMatchObject({ code: "FORBIDDEN", message: "The current password is incorrect." });
    expect((await t.client.me(tokens.accessToken)).status).toBe(200);
    await t.client.logIn(email);
  });

  test("a password change to a weak or unchanged password is 422 on newPassword", async () => {
    const email = freshEmail();
    const tokens = await t.client.signUp(email);
    for (const [newPassword, message] of [
      ["short", "newPassword must be at least 10 characters"],
      [email, "newPassword must not be the e-mail address"],
      [PASSWORD, "newPassword must differ from the current password"],
    ] as const) {
      const response = await t.client.call("POST", "/v1/auth/password", {
        token: tokens.accessToken,
        body: { currentPassword: PASSWORD, newPassword },
      });
      expect(await fieldsOf(response)).toEqual([{ path: "newPassword", message }]);
    }
    expect((await t.client.me(tokens.accessToken)).status).toBe(200);
  });

  test("logout with a token that is not ours is still 204: logging out is idempotent and tells nothing", async () => {
    expect((await t.client.call("POST", "/v1/auth/logout", { body: { refreshToken: "B".repeat(43) } })).status).toBe(
      204,
    );
  });
});
