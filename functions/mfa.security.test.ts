import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { Elysia } from "elysia";
import { loadConfig } from "../lib/config/config.ts";
import { READ, RECENT_SIGN_IN } from "../lib/core/policy-presets.ts";
import { reencryptSecrets } from "../lib/cron/jobs/reencrypt-secrets.ts";
import { runScheduledJob } from "../lib/cron/scheduled-job.ts";
import { auditEvents, userTotp } from "../lib/db/schema/index.ts";
import { buildApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { deriveRuntime } from "../lib/runtime/runtime.ts";
import {
  type AuthTestApp,
  authClient,
  errorOf,
  FAST_HASHING,
  freshEmail,
  freshIp,
  PASSWORD,
} from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { mfaClient, openMfaTestApp, totpCode } from "../test/mfa-client.ts";
import type { TestClock } from "../test/test-clock.ts";
import { loadRouteGroups } from "../tools/route-groups.ts";
import { createAuthRoutes } from "./auth.ts";
import keys from "./keys.ts";
import { createMfaRoutes } from "./mfa.ts";
import orgs from "./orgs.ts";

describe("MFA routes: replay, guessing and challenge-token misuse", () => {
  let t: AuthTestApp & { clock: TestClock };
  let mfa: ReturnType<typeof mfaClient>;
  beforeAll(async () => {
    t = await openMfaTestApp({ groups: [orgs, keys] });
    mfa = mfaClient(t);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());

  const refusal = async (response: Response) => ({ status: response.status, code: (await errorOf(response)).code });

  /** An account with TOTP on, the clock stopped well past the step that confirmed it. */
  const totpAccount = async () => {
    const email = freshEmail();
    const signedUp = await t.client.signUp(email);
    const { secret, recoveryCodes } = await mfa.enableTotp(signedUp.accessToken);
    t.clock.advance(5 * 60_000);
    return { email, secret, recoveryCodes, userId: signedUp.user.id };
  };

  test("a TOTP code that signed in once is refused the next time, even within its step", async () => {
    try {
      const { email, secret } = await totpAccount();
      const code = totpCode(secret, t.clock.now());
      const first = await mfa.passwordStep(email);
      await mfa.signedIn(await mfa.verify({ challengeToken: first.challengeToken, code }));
      const second = await mfa.passwordStep(email);
      expect(await refusal(await mfa.verify({ challengeToken: second.challengeToken, code }))).toEqual({
        status: 401,
        code: "MFA_CODE_INVALID",
      });
    } finally {
      t.clock.reset();
    }
  });

  test("of two concurrent sign-ins with one code, exactly one gets a session", async () => {
    try {
      const { email, secret } = await totpAccount();
      const code = totpCode(secret, t.clock.now());
      const challenges = [await mfa.passwordStep(email), await mfa.passwordStep(email)];
      const answers = await Promise.all(challenges.map(({ challengeToken }) => mfa.verify({ challengeToken, code })));
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401]);
    } finally {
      t.clock.reset();
    }
  });

  test("a code two steps away from now is refused: the drift window is one step", async () => {
    try {
      const { email, secret } = await totpAccount();
      const { challengeToken } = await mfa.passwordStep(email);
      for (const offset of [-60_000, 60_000])
        expect((await mfa.verify({ challengeToken, code: totpCode(secret, t.clock.now() + offset) })).status).toBe(401);
    } finally {
      t.clock.reset();
    }
  });

  test("five wrong codes from five addresses lock the second step for 15 min, the right code too", async () => {
    try {
      const { email, secret, userId } = await totpAccount();
      const { challengeToken } = await mfa.passwordStep(email);
      const right = totpCode(secret, t.clock.now());
      const wrong = right === "000000" ? "111111" : "000000";
      for (let attempt = 1; attempt <= 4; attempt++)
        expect(await refusal(await mfa.verify({ challengeToken, code: wrong }, freshIp()))).toEqual({
          status: 401,
          code: "MFA_CODE_INVALID",
        });
      const fifth = await mfa.verify({ challengeToken, code: wrong }, freshIp());
      expect(fifth.headers.get("retry-after")).toBe("900");
      expect(await refusal(fifth)).toEqual({ status: 429, code: "MFA_LOCKED" });
      expect(await refusal(await mfa.verify({ challengeToken, code: right }, freshIp()))).toEqual({
        status: 429,
        code: "MFA_LOCKED",
      });
      const locked = await t.runtime.db.primary
        .select({ id: auditEvents.id })
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "user.mfa.locked"), eq(auditEvents.targetId, userId)));
      expect(locked).toHaveLength(1);
      // Past the lock (and the challenge's 5 minutes): a new password step and the current code get in.
      t.clock.advance(16 * 60_000);
      const again = await mfa.passwordStep(email);
      await mfa.signedIn(
        await mfa.verify({ challengeToken: again.challengeToken, code: totpCode(secret, t.clock.now()) }),
      );
    } finally {
      t.clock.reset();
    }
  });

  test("one address gets 10 second steps a minute, whatever the codes", async () => {
    const ip = freshIp();
    const { challengeToken } = await mfa.passwordStep((await totpAccount()).email);
    t.clock.reset();
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 11; attempt++)
      statuses.push(
        (await mfa.verify({ challengeToken: `${challengeToken.slice(0, 42)}A`, code: "123456" }, ip)).status,
      );
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
  });

  test("a challenge token is no bearer token, is spent by its sign-in, and dies after 5 minutes", async () => {
    try {
      const { email, secret } = await totpAccount();
      const { challengeToken } = await mfa.passwordStep(email);
      expect(await refusal(await t.client.me(challengeToken))).toEqual({ status: 401, code: "UNAUTHORIZED" });
      await mfa.signedIn(await mfa.verify({ challengeToken, code: totpCode(secret, t.clock.now()) }));
      const reused = await mfa.verify({ challengeToken, code: totpCode(secret, t.clock.now() + 30_000) });
      expect(await refusal(reused)).toEqual({ status: 401, code: "UNAUTHORIZED" });

      const late = await mfa.passwordStep(email);
      t.clock.advance(5 * 60_000 + 1_000);
      const expired = await mfa.verify({ challengeToken: late.challengeToken, code: totpCode(secret, t.clock.now()) });
      expect(await refusal(expired)).toEqual({ status: 401, code: "UNAUTHORIZED" });
    } finally {
      t.clock.reset();
    }
  });

  test("a recovery code works once, and another account's code not at all", async () => {
    try {
      const owner = await totpAccount();
      const other = await totpAccount();
      const { challengeToken } = await mfa.passwordStep(other.email);
      const foreign = await mfa.verify({ challengeToken, recoveryCode: owner.recoveryCodes[0] as string });
      expect(await refusal(foreign)).toEqual({ status: 401, code: "MFA_CODE_INVALID" });
    } finally {
      t.clock.reset();
    }
  });

  test("with a second factor, step-up by password alone is refused", async () => {
    const { accessToken } = await t.client.signUp();
    await mfa.enableTotp(accessToken);
    const answer = await t.client.call("POST", "/v1/auth/reauthenticate", {
      token: accessToken,
      body: { password: PASSWORD },
    });
    expect(await refusal(answer)).toEqual({ status: 403, code: "FORBIDDEN" });
  });

  test("creating an API key needs a recent sign-in", async () => {
    const { accessToken } = await t.client.signUp();
    const { id: orgId } = await mfa.json<{ id: string }>(
      await t.client.call("POST", "/v1/orgs", { token: accessToken, body: { name: "Acme" } }),
      201,
    );
    try {
      t.clock.advance(11 * 60_000);
      const answer = await t.client.call("POST", `/v1/orgs/${orgId}/keys`, {
        token: accessToken,
        body: { name: "ci", scopes: ["orgs:read"] },
      });
      expect(await refusal(answer)).toEqual({ status: 403, code: "REAUTHENTICATION_REQUIRED" });
    } finally {
      t.clock.reset();
    }
  });
});

// No route in functions/ that declares `recentAuth` admits API keys yet; one shaped like the README's rule does.
const stepUpEither = defineRouteGroup("step-up-either", () =>
  new Elysia({ name: "step-up-either" })
    .use(policyPlugin)
    .get("/v1/step-up-either", ({ caller }) => ({ kind: caller.kind }), {
      userOrKey: { ...READ, scopes: ["orgs:read"], rateLimits: [], recentAuth: RECENT_SIGN_IN },
    }),
);

describe("step-up asks signed-in users only, never API keys", () => {
  let t: AuthTestApp & { clock: TestClock };
  let mfa: ReturnType<typeof mfaClient>;
  beforeAll(async () => {
    t = await openMfaTestApp({ groups: [orgs, keys, stepUpEither] });
    mfa = mfaClient(t);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());

  const answer = async (response: Response) => ({ status: response.status, body: await response.json() });

  test("the routes that declare it: password change, key creation and MFA changes, none open to keys", async () => {
    const every = buildApp(t.runtime, await loadRouteGroups());
    const stepUp = every.routes.routes.filter((route) => route.policy.recentAuthMs !== undefined);
    expect(stepUp.map((route) => route.key).sort()).toEqual([
      "DELETE /v1/auth/mfa/totp",
      "DELETE /v1/auth/passkeys/:id",
      "POST /v1/auth/mfa/recovery-codes",
      "POST /v1/auth/mfa/totp",
      "POST /v1/auth/mfa/totp/confirm",
      "POST /v1/auth/passkeys",
      "POST /v1/auth/passkeys/registration-options",
      "POST /v1/auth/password",
      "POST /v1/orgs/:orgId/keys",
    ]);
    for (const route of stepUp)
      expect({ route: route.key, access: route.policy.access }).toMatchObject({ access: "user" });
  });

  test("past the window an API key is still served where a signed-in user must step up", async () => {
    const { accessToken } = await t.client.signUp();
    const { id: orgId } = await mfa.json<{ id: string }>(
      await t.client.call("POST", "/v1/orgs", { token: accessToken, body: { name: "Acme" } }),
      201,
    );
    const { key } = await mfa.json<{ key: string }>(
      await t.client.call("POST", `/v1/orgs/${orgId}/keys`, {
        token: accessToken,
        body: { name: "ci", scopes: ["orgs:read"] },
      }),
      201,
    );
    expect(await answer(await t.client.call("GET", "/v1/step-up-either", { token: accessToken }))).toEqual({
      status: 200,
      body: { kind: "user" },
    });
    try {
      t.clock.advance(11 * 60_000);
      expect(await answer(await t.client.call("GET", "/v1/step-up-either", { token: key }))).toEqual({
        status: 200,
        body: { kind: "api_key" },
      });
      const user = await t.client.call("GET", "/v1/step-up-either", { token: accessToken });
      expect(user.status).toBe(403);
      expect((await errorOf(user)).code).toBe("REAUTHENTICATION_REQUIRED");
    } finally {
      t.clock.reset();
    }
  });
});

describe("MFA routes: errors", () => {
  let t: AuthTestApp & { clock: TestClock };
  let mfa: ReturnType<typeof mfaClient>;
  beforeAll(async () => {
    t = await openMfaTestApp();
    mfa = mfaClient(t);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());

  test("confirming with nothing enrolled is 409, enrolling twice is 409, a malformed code is 422", async () => {
    const { accessToken } = await t.client.signUp();
    const confirm = (code: string) =>
      t.client.call("POST", "/v1/auth/mfa/totp/confirm", { token: accessToken, body: { code } });
    expect((await confirm("123456")).status).toBe(409);
    expect((await confirm("12345")).status).toBe(422);
    await mfa.enableTotp(accessToken);
    expect((await t.client.call("POST", "/v1/auth/mfa/totp", { token: accessToken })).status).toBe(409);
  });

  test("recovery codes for an account without a second factor are 409; removing absent TOTP is 404", async () => {
    const { accessToken } = await t.client.signUp();
    expect((await t.client.call("POST", "/v1/auth/mfa/recovery-codes", { token: accessToken })).status).toBe(409);
    expect((await t.client.call("DELETE", "/v1/auth/mfa/totp", { token: accessToken })).status).toBe(404);
  });

  test("the second step refuses a body with both a code and a recovery code, or neither", async () => {
    const challengeToken = "A".repeat(43);
    for (const body of [{ challengeToken }, { challengeToken, code: "123456", recoveryCode: "aaaa-bbbb-cccc-dddd" }])
      expect((await t.client.call("POST", "/v1/auth/mfa/verify", { body })).status).toBe(422);
  });
});

describe("TOTP secrets under key rotation", () => {
  const V1 = `v1:${Buffer.alloc(32, 1).toString("base64")}`;
  const V2 = `v2:${Buffer.alloc(32, 2).toString("base64")}`;
  let t: AuthTestApp & { clock: TestClock };
  beforeAll(async () => {
    t = await openMfaTestApp({ env: { ENCRYPTION_KEYS: V1 } });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());

  test("re-encrypted by reencrypt-secrets, a TOTP secret still checks codes once its old key is retired", async () => {
    const email = freshEmail();
    const { secret } = await mfaClient(t).enableTotp((await t.client.signUp(email)).accessToken);
    const withKeys = (env: Record<string, string>) =>
      deriveRuntime(t.runtime, { config: loadConfig({ NODE_ENV: "test", TRUST_PROXY: "1", ...env }) });
    const rotated = withKeys({ ENCRYPTION_KEYS: `${V2},${V1}` });
    expect((await runScheduledJob(rotated, reencryptSecrets, new Date())).status).toBe("succeeded");
    const [row] = await t.runtime.db.primary.select().from(userTotp);
    expect(row?.secretSealed).toStartWith("v2.");

    const v2Only = withKeys({ ENCRYPTION_KEYS: `${V2},${V1}`, ENCRYPTION_RETIRED_VERSIONS: "v1" });
    const groups = [
      createAuthRoutes({ passwordHashing: FAST_HASHING }),
      createMfaRoutes({ passwordHashing: FAST_HASHING }),
    ];
    const mfa = mfaClient({ client: authClient(buildApp(v2Only, groups)), clock: t.clock });
    try {
      t.clock.advance(5 * 60_000);
      const { challengeToken } = await mfa.passwordStep(email);
      await mfa.signedIn(await mfa.verify({ challengeToken, code: totpCode(secret, t.clock.now()) }));
    } finally {
      t.clock.reset();
    }
  });
});
