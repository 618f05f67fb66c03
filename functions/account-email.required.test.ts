import { afterAll, beforeAll, expect, test } from "bun:test";
import { errorOf, freshEmail, PASSWORD } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { type EmailTestApp, openEmailTestApp } from "../test/email-test-app.ts";
import type { SentEmail } from "../test/resend-stand-in.ts";

let t: EmailTestApp;
beforeAll(async () => {
  t = await openEmailTestApp({ env: { EMAIL_VERIFICATION_REQUIRED: "true" } });
}, BACKEND_HOOK_TIMEOUT_MS);
afterAll(() => t.close(), BACKEND_HOOK_TIMEOUT_MS);

test("with verification required, an unverified account can neither log in nor create an organization", async () => {
  const email = freshEmail();
  const signedUp = await t.client.signUp(email);
  const login = await t.client.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD } });
  expect({ status: login.status, code: (await errorOf(login)).code }).toEqual({
    status: 403,
    code: "EMAIL_NOT_VERIFIED",
  });
  // A wrong password is still the one 401 for everyone: the 403 only follows a proven password.
  const wrong = await t.client.call("POST", "/v1/auth/login", { body: { email, password: "not the password" } });
  expect(wrong.status).toBe(401);
  const create = await t.client.call("POST", "/v1/orgs", { token: signedUp.accessToken, body: { name: "Acme" } });
  expect({ status: create.status, code: (await errorOf(create)).code }).toEqual({
    status: 403,
    code: "EMAIL_NOT_VERIFIED",
  });

  const [message] = await t.mail();
  const token = t.resend.tokenIn(message as SentEmail);
  expect((await t.client.call("POST", "/v1/auth/email/verify", { body: { token } })).status).toBe(200);
  expect((await t.client.logIn(email)).user.id).toBe(signedUp.user.id);
  const created = await t.client.call("POST", "/v1/orgs", { token: signedUp.accessToken, body: { name: "Acme" } });
  expect(created.status).toBe(201);
});
