import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Server } from "bun";
import { Elysia } from "elysia";
import type { Browser, Page } from "playwright-core";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { type AuthTestApp, errorOf, freshEmail, PASSWORD, type Tokens } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { BROWSER_TEST_TIMEOUT_MS, launchChromium } from "../test/browser.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { freePort } from "../test/free-port.ts";
import { type MfaRequired, mfaClient, openMfaTestApp } from "../test/mfa-client.ts";
import type { TestClock } from "../test/test-clock.ts";

// A blank page on the API's own origin: the ceremonies run in it, so the RP ID is localhost.
const blankPage = defineRouteGroup("passkey-page", () =>
  new Elysia({ name: "passkey-page" }).use(policyPlugin).get(
    "/passkey-page",
    ({ set }) => {
      set.headers["content-type"] = "text/html; charset=utf-8";
      return "<!doctype html><title>passkeys</title>";
    },
    { public: { body: "none", headers: { "content-security-policy": "default-src 'none'" } } },
  ),
);

type Json = Record<string, unknown>;

/** navigator.credentials in the page, options and answers in WebAuthn's JSON form (base64url for bytes). */
function ceremony(page: Page, kind: "create" | "get", options: Json): Promise<Json> {
  return page.evaluate(
    async ([kind, options]) => {
      const bytes = (text: string) => Uint8Array.fromBase64(text, { alphabet: "base64url" }).buffer;
      const text = (buffer: ArrayBuffer | null) =>
        buffer === null ? undefined : new Uint8Array(buffer).toBase64({ alphabet: "base64url", omitPadding: true });
      type Listed = { id: string | ArrayBuffer }[] | undefined;
      const o = structuredClone(options) as {
        challenge: string | ArrayBuffer;
        user?: { id: string | ArrayBuffer };
        excludeCredentials?: Listed;
        allowCredentials?: Listed;
      };
      o.challenge = bytes(o.challenge as string);
      if (o.user) o.user.id = bytes(o.user.id as string);
      for (const list of [o.excludeCredentials, o.allowCredentials])
        for (const credential of list ?? []) credential.id = bytes(credential.id as string);
      const publicKey = o as unknown as PublicKeyCredentialCreationOptions & PublicKeyCredentialRequestOptions;
      const credential = (await navigator.credentials[kind]({ publicKey })) as PublicKeyCredential;
      const response = credential.response as AuthenticatorAttestationResponse & AuthenticatorAssertionResponse;
      return {
        id: credential.id,
        rawId: text(credential.rawId),
        type: credential.type,
        clientExtensionResults: credential.getClientExtensionResults(),
        response:
          kind === "create"
            ? {
                clientDataJSON: text(response.clientDataJSON),
                attestationObject: text(response.attestationObject),
                transports: response.getTransports(),
              }
            : {
                clientDataJSON: text(response.clientDataJSON),
                authenticatorData: text(response.authenticatorData),
                signature: text(response.signature),
                userHandle: text(response.userHandle),
              },
      };
    },
    [kind, options] as const,
  );
}

describeWithServers(["chromium"], "passkeys in headless Chromium with a virtual authenticator", () => {
  let t: AuthTestApp & { clock: TestClock };
  let mfa: ReturnType<typeof mfaClient>;
  let server: Server<undefined>;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const port = freePort();
    t = await openMfaTestApp({ env: { WEBAUTHN_ORIGINS: `http://localhost:${port}` }, groups: [blankPage] });
    mfa = mfaClient(t);
    server = Bun.serve({ hostname: "127.0.0.1", port, fetch: t.app.fetch });
    browser = await launchChromium();
    page = await browser.newPage();
    const devtools = await page.context().newCDPSession(page);
    await devtools.send("WebAuthn.enable");
    await devtools.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    await page.goto(`http://localhost:${port}/passkey-page`);
  }, BROWSER_TEST_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    server?.stop(true);
    await t?.runtime.close();
  }, BACKEND_HOOK_TIMEOUT_MS);

  const register = async (token: string) => {
    const { ceremonyToken, options } = await mfa.json<{ ceremonyToken: string; options: Json }>(
      await t.client.call("POST", "/v1/auth/passkeys/registration-options", { token }),
      200,
    );
    const response = await ceremony(page, "create", options);
    return t.client.call("POST", "/v1/auth/passkeys", { token, body: { ceremonyToken, response, name: "Laptop" } });
  };

  const assertion = async (challengeToken?: string) => {
    const body = challengeToken === undefined ? {} : { challengeToken };
    const { ceremonyToken, options } = await mfa.json<{ ceremonyToken: string; options: Json }>(
      await t.client.call("POST", "/v1/auth/passkeys/authentication-options", { body }),
      200,
    );
    return { ceremonyToken, response: await ceremony(page, "get", options) };
  };

  let email: string;
  let userId: string;

  test(
    "registers a passkey for the signed-in user",
    async () => {
      email = freshEmail();
      const { accessToken, user } = await t.client.signUp(email);
      userId = user.id;
      const registered = await mfa.json<{ id: string; name: string }>(await register(accessToken), 201);
      expect(registered.name).toBe("Laptop");
      const status = await mfa.json<{ passkeys: { id: string }[] }>(
        await t.client.call("GET", "/v1/auth/mfa", { token: accessToken }),
        200,
      );
      expect(status.passkeys.map((key) => key.id)).toEqual([registered.id]);
    },
    BROWSER_TEST_TIMEOUT_MS,
  );

  test(
    "signs in without a password, as the passkey's owner, and its ceremony works once",
    async () => {
      const answer = await assertion();
      const tokens = await mfa.json<Tokens>(
        await t.client.call("POST", "/v1/auth/passkeys/sign-in", { body: answer }),
        200,
      );
      expect(tokens.user).toEqual({ id: userId, email });
      const replayed = await t.client.call("POST", "/v1/auth/passkeys/sign-in", { body: answer });
      expect({ status: replayed.status, code: (await errorOf(replayed)).code }).toEqual({
        status: 401,
        code: "UNAUTHORIZED",
      });
    },
    BROWSER_TEST_TIMEOUT_MS,
  );

  test(
    "stands as the second factor: the password answers a challenge, the passkey the session",
    async () => {
      const challenge = await mfa.json<MfaRequired>(
        await t.client.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD } }),
        200,
      );
      expect(challenge.methods).toEqual(["passkey"]);
      const answer = await assertion(challenge.challengeToken);
      const body = { ...answer, challengeToken: challenge.challengeToken };
      const tokens = await mfa.json<Tokens>(await t.client.call("POST", "/v1/auth/passkeys/sign-in", { body }), 200);
      expect(tokens.user.id).toBe(userId);
      // The challenge token was spent by that sign-in.
      const again = await t.client.call("POST", "/v1/auth/passkeys/authentication-options", {
        body: { challengeToken: challenge.challengeToken },
      });
      expect(again.status).toBe(401);
    },
    BROWSER_TEST_TIMEOUT_MS,
  );

  test(
    "confirms a step-up, after which the passkey can be removed",
    async () => {
      const signedIn = await mfa.json<Tokens>(
        await t.client.call("POST", "/v1/auth/passkeys/sign-in", { body: await assertion() }),
        200,
      );
      const { id } = (
        await mfa.json<{ passkeys: { id: string }[] }>(
          await t.client.call("GET", "/v1/auth/mfa", { token: signedIn.accessToken }),
          200,
        )
      ).passkeys[0] as { id: string };
      const path = `/v1/auth/passkeys/${id}`;
      try {
        t.clock.advance(11 * 60_000);
        const refused = await t.client.call("DELETE", path, { token: signedIn.accessToken });
        expect((await errorOf(refused)).code).toBe("REAUTHENTICATION_REQUIRED");
        const renewed = await mfa.json<{ accessToken: string }>(
          await t.client.call("POST", "/v1/auth/reauthenticate", {
            token: signedIn.accessToken,
            body: { passkey: await assertion() },
          }),
          200,
        );
        expect((await t.client.call("DELETE", path, { token: renewed.accessToken })).status).toBe(204);
      } finally {
        t.clock.reset();
      }
    },
    BROWSER_TEST_TIMEOUT_MS,
  );
});
