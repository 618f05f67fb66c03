import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { auditEvents, recoveryCodes, userTotp } from "../lib/db/schema/index.ts";
import { type AuthTestApp, errorOf, freshEmail, PASSWORD, type Tokens } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS } from "../test/backends.ts";
import { mfaClient, openMfaTestApp, totpCode } from "../test/mfa-client.ts";
import type { TestClock } from "../test/test-clock.ts";

describe.each(DATABASE_BACKENDS)("MFA routes on %s: the happy path", (backend) => {
  let t: AuthTestApp & { clock: TestClock };
  let mfa: ReturnType<typeof mfaClient>;
  beforeAll(async () => {
    t = await openMfaTestApp({ database: backend });
    mfa = mfaClient(t);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => t.runtime.close());

  const auditActions = async (userId: string) =>
    (
      await t.runtime.db.primary
        .select({ action: auditEvents.action, metadata: auditEvents.metadata })
        .from(auditEvents)
        .where(eq(auditEvents.targetId, userId))
        .orderBy(auditEvents.id)
    ).map((row) => row.action);

  test("TOTP enrolment seals the secret, and a first code turns it on with ten recovery codes", async () => {
    const { accessToken, user } = await t.client.signUp();
    const { secret, recoveryCodes: codes } = await mfa.enableTotp(accessToken);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(codes).toHaveLength(10);
    for (const code of codes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    const [row] = await t.runtime.db.primary.select().from(userTotp).where(eq(userTotp.userId, user.id));
    expect(row?.secretSealed).toMatch(/^v\d+\./);
    expect(row?.secretSealed).not.toContain(secret);
    const stored = await t.runtime.db.primary.select().from(recoveryCodes).where(eq(recoveryCodes.userId, user.id));
    expect(stored.map((r) => r.codeHash).sort()).not.toContain(codes[0]);
    const status = await mfa.json(await t.client.call("GET", "/v1/auth/mfa", { token: accessToken }), 200);
    expect(status).toEqual({ totp: true, passkeys: [], recoveryCodesLeft: 10 });
    expect(await auditActions(user.id)).toContain("user.mfa.totp_enabled");
  });

  test("login is two steps: the password answers a challenge token, the TOTP code the session", async () => {
    const email = freshEmail();
    const { accessToken } = await t.client.signUp(email);
    const { secret } = await mfa.enableTotp(accessToken);
    const challenge = await mfa.passwordStep(email);
    expect(challenge).toEqual({
      mfaRequired: true,
      challengeToken: expect.any(String),
      expiresIn: 300,
      methods: ["totp"],
    });
    const tokens = await mfa.signedIn(
      await mfa.verify({ challengeToken: challenge.challengeToken, code: totpCode(secret, t.clock.now()) }),
    );
    expect(tokens.user.email).toBe(email);
    expect((await t.client.me(tokens.accessToken)).status).toBe(200);
  });

  test("a code from the step before or after now is accepted (one step of drift)", async () => {
    const email = freshEmail();
    const { secret } = await mfa.enableTotp((await t.client.signUp(email)).accessToken);
    try {
      // Well past the step that confirmed the enrolment, so each code below is for a step not used yet.
      t.clock.advance(5 * 60_000);
      for (const offset of [-30_000, 30_000]) {
        const { challengeToken } = await mfa.passwordStep(email);
        const code = totpCode(secret, t.clock.now() + offset);
        await mfa.signedIn(await mfa.verify({ challengeToken, code }));
      }
    } finally {
      t.clock.reset();
    }
  });

  test("a recovery code signs in once, in any case and spacing, and leaves an audit row", async () => {
    const email = freshEmail();
    const { accessToken, user } = await t.client.signUp(email);
    const { recoveryCodes: codes } = await mfa.enableTotp(accessToken);
    const typed = (codes[3] as string).toUpperCase().replaceAll("-", " ");
    const first = await mfa.passwordStep(email);
    await mfa.signedIn(await mfa.verify({ challengeToken: first.challengeToken, recoveryCode: typed }));
    const second = await mfa.passwordStep(email);
    const again = await mfa.verify({ challengeToken: second.challengeToken, recoveryCode: codes[3] as string });
    expect({ status: again.status, code: (await errorOf(again)).code }).toEqual({
      status: 401,
      code: "MFA_CODE_INVALID",
    });
    expect(await auditActions(user.id)).toContain("user.mfa.recovery_code_used");
  });

  test("step-up: past the window a sensitive route answers REAUTHENTICATION_REQUIRED, a code renews it", async () => {
    const email = freshEmail();
    const { accessToken, user } = await t.client.signUp(email);
    const { secret } = await mfa.enableTotp(accessToken);
    try {
      t.clock.advance(11 * 60_000);
      const refused = await t.client.call("DELETE", "/v1/auth/mfa/totp", { token: accessToken });
      expect({ status: refused.status, code: (await errorOf(refused)).code }).toEqual({
        status: 403,
        code: "REAUTHENTICATION_REQUIRED",
      });
      const renewed = await mfa.json<{ accessToken: string; expiresIn: number }>(
        await t.client.call("POST", "/v1/auth/reauthenticate", {
          token: accessToken,
          body: { code: totpCode(secret, t.clock.now()) },
        }),
        200,
      );
      expect((await t.client.call("DELETE", "/v1/auth/mfa/totp", { token: renewed.accessToken })).status).toBe(204);
      expect(await auditActions(user.id)).toEqual(
        expect.arrayContaining(["user.reauthenticated", "user.mfa.totp_removed"]),
      );
      // With its only factor gone, the account signs in with the password alone again.
      const tokens = await mfa.json<Tokens>(
        await t.client.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
        200,
      );
      expect(tokens.refreshToken).toEqual(expect.any(String));
    } finally {
      t.clock.reset();
    }
  });

  test("a refresh keeps the session's sign-in time: it does not renew the step-up window", async () => {
    const { accessToken, refreshToken } = await t.client.signUp();
    try {
      t.clock.advance(11 * 60_000);
      const refreshed = await t.client.refreshed(refreshToken);
      const refused = await t.client.call("POST", "/v1/auth/password", {
        token: refreshed.accessToken,
        body: { currentPassword: PASSWORD, newPassword: "another long passphrase" },
      });
      expect((await errorOf(refused)).code).toBe("REAUTHENTICATION_REQUIRED");
      const renewed = await mfa.json<{ accessToken: string }>(
        await t.client.call("POST", "/v1/auth/reauthenticate", {
          token: accessToken,
          body: { password: PASSWORD },
        }),
        200,
      );
      const changed = await t.client.call("POST", "/v1/auth/password", {
        token: renewed.accessToken,
        body: { currentPassword: PASSWORD, newPassword: "another long passphrase" },
      });
      expect(changed.status).toBe(200);
    } finally {
      t.clock.reset();
    }
  });
});
