import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mailerOf } from "../lib/email/mailer.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { FAST_HASHING, freshEmail } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { RESEND_KEY } from "../test/resend-stand-in.ts";
import { createAuthRoutes } from "./auth.ts";
import devEmails from "./dev-emails.ts";

interface Mailbox {
  emails: { to: string; subject: string; text: string; html: string }[];
}

describe("the development mailbox", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime({ env: { TRUST_PROXY: "1" } });
    app = buildApp(runtime, [createAuthRoutes({ passwordHashing: FAST_HASHING }), devEmails]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  test("with no provider configured, a sign-up's verification message is kept and shown at /dev/emails", async () => {
    const email = freshEmail();
    const signup = await app.fetch(
      new Request("http://localhost/v1/auth/signup", {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "10.9.9.1" },
        body: JSON.stringify({ email, password: "correct horse battery" }),
      }),
    );
    expect(signup.status).toBe(201);
    await mailerOf(runtime).settled();
    const response = await app.fetch(new Request("http://localhost/dev/emails"));
    expect(response.status).toBe(200);
    const { emails } = (await response.json()) as Mailbox;
    expect(emails[0]).toMatchObject({ to: email, subject: "Confirm your e-mail address" });
    expect(emails[0]?.text).toMatch(/http:\/\/localhost:3000\/verify-email#token=[A-Za-z0-9_-]{43}/);
  });
});

describe("outside development", () => {
  const refused = async (env: Record<string, string>) => {
    const runtime = await openTestRuntime({ env });
    try {
      const app = buildApp(runtime, [devEmails]);
      const response = await app.fetch(new Request("http://localhost/dev/emails"));
      return { status: response.status, code: ((await response.json()) as { error: { code: string } }).error.code };
    } finally {
      await runtime.close();
    }
  };

  test(
    "the route answers 404 when another transport is configured, or in production",
    async () => {
      const resend = { EMAIL_PROVIDER: "resend", EMAIL_API_KEY: RESEND_KEY, EMAIL_FROM: "a@b.example" };
      expect(await refused(resend)).toEqual({ status: 404, code: "NOT_FOUND" });
      const production = {
        NODE_ENV: "production",
        DATABASE_URL: "postgres://u:p@127.0.0.1:9/unused",
        ENCRYPTION_KEYS: `v1:${Buffer.alloc(32, 1).toString("base64")}`,
      };
      expect(await refused(production)).toEqual({ status: 404, code: "NOT_FOUND" });
    },
    BACKEND_HOOK_TIMEOUT_MS,
  );
});
