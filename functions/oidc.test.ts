import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from "jose";
import { disableUser } from "../lib/auth/accounts.ts";
import { auditEvents, oidcIdentities, sessions, users } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { authClient, errorOf, FAST_HASHING, freshEmail, freshIp } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { freePort } from "../test/free-port.ts";
import { type LocalOidcProvider, OTHER_CLIENT_ID, startLocalOidcProvider } from "../test/oidc-provider.ts";
import { createTestClock } from "../test/test-clock.ts";
import { createAuthRoutes } from "./auth.ts";
import me from "./me.ts";
import { createOidcRoutes } from "./oidc.ts";

const BASE = "http://localhost";
const CALLBACK = `${BASE}/v1/auth/oidc/oidc/callback`;

describe("sign-in with a real local OpenID provider", () => {
  const clock = createTestClock();
  let provider: LocalOidcProvider;
  let runtime: TestRuntime;
  let app: RampartApp;

  beforeAll(async () => {
    provider = await startLocalOidcProvider(CALLBACK);
    runtime = await openTestRuntime({
      env: {
        TRUST_PROXY: "1",
        OIDC_REDIRECT_BASE_URL: BASE,
        OIDC_ISSUER: provider.issuer,
        OIDC_CLIENT_ID: provider.clientId,
        OIDC_CLIENT_SECRET: provider.clientSecret,
        OIDC_NAME: "Local",
      },
      now: clock.now,
    });
    app = buildApp(runtime, [
      createOidcRoutes({ passwordHashing: FAST_HASHING }),
      createAuthRoutes({ passwordHashing: FAST_HASHING }),
      me,
    ]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await provider.close();
    await runtime.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    app.fetch(new Request(`${BASE}${path}`, { headers: { "x-forwarded-for": freshIp(), ...headers } }));

  /** A browser starting a sign-in: where it is sent, and the cookie it was given. */
  const start = async () => {
    const ip = freshIp();
    const response = await app.fetch(
      new Request(`${BASE}/v1/auth/oidc/oidc/start`, { headers: { "x-forwarded-for": ip } }),
    );
    expect(response.status).toBe(302);
    const authorizationUrl = response.headers.get("location") ?? "";
    const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    return { authorizationUrl, cookie, ip };
  };
  const callback = (back: URL, browser: { cookie: string; ip: string }) =>
    app.fetch(
      new Request(`${BASE}${back.pathname}${back.search}`, {
        headers: { cookie: browser.cookie, "x-forwarded-for": browser.ip },
      }),
    );
  const signIn = async (subject: string) => {
    const browser = await start();
    return callback(await provider.signInAt(browser.authorizationUrl, subject), browser);
  };
  const newSubject = (email = freshEmail(), email_verified = true) => {
    const subject = crypto.randomUUID();
    provider.users.set(subject, { email, email_verified });
    return { subject, email };
  };
  /** The reason the last refused sign-in was logged with. */
  const refusalLogged = () => runtime.logLines.findLast((line) => line.includes("oidc sign-in refused")) ?? "";
  const identitiesOf = (subject: string) =>
    runtime.db.primary.select().from(oidcIdentities).where(eq(oidcIdentities.subject, subject));

  test("the provider list names each configured provider", async () => {
    const response = await get("/v1/auth/oidc/providers");
    expect(await response.json()).toEqual({ providers: [{ id: "oidc", name: "Local" }] });
  });

  test("start redirects to the provider with PKCE S256, state and nonce, bound by an HttpOnly cookie", async () => {
    const response = await get("/v1/auth/oidc/oidc/start");
    const url = new URL(response.headers.get("location") ?? "");
    expect(url.origin).toBe(provider.issuer);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      client_id: "rampart",
      redirect_uri: CALLBACK,
      response_type: "code",
      code_challenge_method: "S256",
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });
    expect(response.headers.get("set-cookie")).toMatch(
      /^rampart_oidc=[A-Za-z0-9_-]{43}; Path=\/v1\/auth\/oidc; HttpOnly; SameSite=Lax; Max-Age=600$/,
    );
  });

  test("a first sign-in creates a verified account and a normal session; the next one reuses the account", async () => {
    const { subject, email } = newSubject();
    const first = await signIn(subject);
    expect(first.status).toBe(200);
    const created = (await first.json()) as { accessToken: string; refreshToken: string; user: { id: string } };
    expect(created).toMatchObject({ outcome: "created", expiresIn: 900, user: { email } });
    const client = authClient(app);
    expect((await client.me(created.accessToken)).status).toBe(200);
    // The same refresh tokens as a password login: they rotate through /v1/auth/refresh.
    expect((await client.refreshed(created.refreshToken)).user.id).toBe(created.user.id);
    const [account] = await runtime.db.primary.select().from(users).where(eq(users.id, created.user.id));
    expect(account?.emailVerifiedAt).toBeInstanceOf(Date);
    expect(await identitiesOf(subject)).toMatchObject([{ issuer: provider.issuer, userId: created.user.id }]);

    const second = await signIn(subject);
    expect(await second.json()).toMatchObject({ outcome: "signed_in", user: { id: created.user.id, email } });
    const actions = await runtime.db.primary
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(eq(auditEvents.targetId, created.user.id));
    expect(actions.map((row) => row.action).sort()).toEqual([
      "user.login.succeeded",
      "user.login.succeeded",
      "user.signup",
    ]);
  });

  test("a wrong state, or the right one in another browser, is refused; its own browser still finishes", async () => {
    const { subject } = newSubject();
    const browser = await start();
    const back = await provider.signInAt(browser.authorizationUrl, subject);
    const forged = new URL(back);
    forged.searchParams.set("state", "A".repeat(43));
    const wrongState = await callback(forged, browser);
    expect(wrongState.status).toBe(400);
    expect((await errorOf(wrongState)).code).toBe("OIDC_STATE_INVALID");
    const otherBrowser = await callback(back, { cookie: `rampart_oidc=${"B".repeat(43)}`, ip: browser.ip });
    expect((await errorOf(otherBrowser)).code).toBe("OIDC_STATE_INVALID");
    const noCookie = await callback(back, { cookie: "", ip: browser.ip });
    expect((await errorOf(noCookie)).code).toBe("OIDC_STATE_INVALID");
    expect(await identitiesOf(subject)).toEqual([]);
    expect((await callback(back, browser)).status).toBe(200);
  });

  test("a replayed callback (its code and state already used) opens no second session", async () => {
    const { subject } = newSubject();
    const browser = await start();
    const back = await provider.signInAt(browser.authorizationUrl, subject);
    const first = (await (await callback(back, browser)).json()) as { user: { id: string } };
    const replay = await callback(back, browser);
    expect(replay.status).toBe(400);
    expect((await errorOf(replay)).code).toBe("OIDC_STATE_INVALID");
    const opened = await runtime.db.primary.select().from(sessions).where(eq(sessions.userId, first.user.id));
    expect(opened).toHaveLength(1);
  });

  test("a code issued for another nonce is refused, even with the victim's state, cookie and challenge", async () => {
    const victim = await start();
    const attacker = newSubject();
    // The attacker copies the victim's public authorization request (challenge included) with a nonce of their own.
    const injected = new URL(victim.authorizationUrl);
    injected.searchParams.set("nonce", "attacker-nonce-0123456789");
    const back = await provider.signInAt(injected.href, attacker.subject);
    const response = await callback(back, victim);
    expect(response.status).toBe(401);
    expect((await errorOf(response)).code).toBe("OIDC_SIGN_IN_FAILED");
    expect(refusalLogged()).toContain('unexpected ID Token \\"nonce\\" claim value');
    expect(await identitiesOf(attacker.subject)).toEqual([]);
  });

  test("an ID token issued to another client (wrong audience) is refused", async () => {
    const { subject } = newSubject();
    provider.issueIdTokensTo = OTHER_CLIENT_ID;
    try {
      const response = await signIn(subject);
      expect(response.status).toBe(401);
      expect((await errorOf(response)).code).toBe("OIDC_SIGN_IN_FAILED");
      expect(refusalLogged()).toContain('unexpected JWT \\"aud\\" (audience) claim value');
    } finally {
      provider.issueIdTokensTo = undefined;
    }
    expect(await identitiesOf(subject)).toEqual([]);
  });

  /** The token's own header and signature around a claim to another user's verified e-mail: no longer matching. */
  const claimEmail = (victim: string) => async (idToken: string) => {
    const [header, , signature] = idToken.split(".");
    const forged = { ...decodeJwt(idToken), email: victim, email_verified: true };
    const claims = Buffer.from(JSON.stringify(forged)).toString("base64url");
    return `${header}.${claims}.${signature}`;
  };
  /** The same claims and key id, signed with a key the provider's JWKS does not hold. */
  const signWithForeignKey = async (idToken: string) => {
    const { alg = "RS256", kid } = decodeProtectedHeader(idToken);
    const { privateKey } = await generateKeyPair(alg);
    return new SignJWT(decodeJwt(idToken)).setProtectedHeader({ alg, kid }).sign(privateKey);
  };

  for (const [name, tamper] of [
    ["a claim changed after signing", (victim: string) => claimEmail(victim)],
    ["a signature by another key under the provider's key id", () => signWithForeignKey],
  ] as const)
    test(`an ID token whose signature does not verify against the JWKS is refused: ${name}`, async () => {
      const victim = newSubject();
      const victimAccount = (await (await signIn(victim.subject)).json()) as { user: { id: string } };
      const attacker = newSubject();
      provider.tamperIdTokens = tamper(victim.email);
      const usersBefore = await runtime.db.primary.$count(users);
      try {
        const response = await signIn(attacker.subject);
        expect(response.status).toBe(401);
        expect((await errorOf(response)).code).toBe("OIDC_SIGN_IN_FAILED");
        expect(response.headers.get("set-cookie") ?? "").not.toContain("rampart_session");
      } finally {
        provider.tamperIdTokens = undefined;
      }
      expect(refusalLogged()).toMatch(/signature/i);
      // No session on the account whose e-mail the forged claims name, and no account or identity for the attacker.
      const opened = await runtime.db.primary.select().from(sessions).where(eq(sessions.userId, victimAccount.user.id));
      expect(opened).toHaveLength(1);
      expect(await identitiesOf(attacker.subject)).toEqual([]);
      expect(await runtime.db.primary.$count(users)).toBe(usersBefore);
    });

  test("a sign-in that comes back after ten minutes has expired", async () => {
    const { subject } = newSubject();
    const browser = await start();
    const back = await provider.signInAt(browser.authorizationUrl, subject);
    clock.advance(10 * 60_000 + 1_000);
    try {
      const response = await callback(back, browser);
      expect(response.status).toBe(400);
      expect(await errorOf(response)).toMatchObject({
        code: "OIDC_STATE_INVALID",
        message: expect.stringMatching(/expired/),
      });
    } finally {
      clock.reset();
    }
    expect(await identitiesOf(subject)).toEqual([]);
  });

  test("an e-mail the provider has not verified is never linked to the account that has it", async () => {
    const email = freshEmail();
    const local = await authClient(app).signUp(email);
    await runtime.db.primary.update(users).set({ emailVerifiedAt: new Date() }).where(eq(users.id, local.user.id));
    const { subject } = newSubject(email, false);
    const response = await signIn(subject);
    expect(response.status).toBe(409);
    expect((await errorOf(response)).code).toBe("OIDC_EMAIL_UNVERIFIED");
    expect(await identitiesOf(subject)).toEqual([]);
  });

  test("a verified e-mail is not linked to an account whose own address is unverified", async () => {
    const email = freshEmail();
    const local = await authClient(app).signUp(email);
    const { subject } = newSubject(email, true);
    const response = await signIn(subject);
    expect(response.status).toBe(409);
    expect((await errorOf(response)).code).toBe("OIDC_EMAIL_UNVERIFIED");
    expect(await identitiesOf(subject)).toEqual([]);
    const refused = await runtime.db.primary
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(eq(auditEvents.targetId, local.user.id));
    expect(refused.map((row) => row.action)).toContain("user.oidc.link_refused");
  });

  test("a verified e-mail links the provider to the existing account with that verified address", async () => {
    const email = freshEmail();
    const local = await authClient(app).signUp(email);
    await runtime.db.primary.update(users).set({ emailVerifiedAt: new Date() }).where(eq(users.id, local.user.id));
    const { subject } = newSubject(email, true);
    const response = await signIn(subject);
    expect(await response.json()).toMatchObject({ outcome: "linked", user: { id: local.user.id, email } });
    expect(await identitiesOf(subject)).toMatchObject([{ userId: local.user.id, provider: "oidc" }]);
  });

  test("a disabled account's linked identity opens no session", async () => {
    const { subject } = newSubject();
    const created = (await (await signIn(subject)).json()) as { user: { id: string } };
    await disableUser(runtime, created.user.id, { type: "system" });
    const response = await signIn(subject);
    expect(response.status).toBe(401);
    expect((await errorOf(response)).code).toBe("UNAUTHORIZED");
  });

  test("an unknown provider is 404, and a callback without state is refused", async () => {
    expect((await get("/v1/auth/oidc/google/start")).status).toBe(404);
    const response = await get("/v1/auth/oidc/oidc/callback?code=abc");
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe("OIDC_STATE_INVALID");
  });
});

describe("sign-in while the provider does not answer", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime({
      env: {
        OIDC_REDIRECT_BASE_URL: BASE,
        // Nothing listens there: discovery fails as against a provider that is down.
        OIDC_ISSUER: `http://127.0.0.1:${freePort()}`,
        OIDC_CLIENT_ID: "rampart",
        OIDC_CLIENT_SECRET: "secret-never-echoed",
      },
    });
    app = buildApp(runtime, [
      createOidcRoutes({ passwordHashing: FAST_HASHING, providerClient: { timeoutMs: 1_000 } }),
    ]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("start answers 503 DEPENDENCY_UNAVAILABLE with Retry-After, never a 500", async () => {
    const response = await app.fetch(new Request(`${BASE}/v1/auth/oidc/oidc/start`));
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    const error = await errorOf(response);
    expect(error.code).toBe("DEPENDENCY_UNAVAILABLE");
    expect(JSON.stringify(error)).not.toContain("secret-never-echoed");
  });
});
