import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import admin from "../../functions/admin.ts";
import { createAuthRoutes } from "../../functions/auth.ts";
import { FAST_HASHING, freshEmail, freshIp, PASSWORD } from "../../test/auth-client.ts";
import { openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { freePort } from "../../test/free-port.ts";
import { ADMIN_TOKEN } from "../../test/identity-client.ts";
import { users } from "../db/schema/index.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import { HUMAN_VERIFICATION_HEADER } from "./human-verification.ts";

const SECRET = "0x4AAAAAAA-stand-in-secret-key-for-tests";
const VALID_TOKEN = "XXXX.DUMMY.TOKEN.XXXX";
const SETUP_MS = 30_000;

interface SiteverifyCall {
  contentType: string | null;
  fields: Record<string, string>;
}

/** A stand-in for Turnstile/hCaptcha siteverify: checks the form fields as the providers do. */
function startProvider() {
  const calls: SiteverifyCall[] = [];
  let mode: "answer" | "fail" | "hang" = "answer";
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: freePort(),
    async fetch(request) {
      const fields = Object.fromEntries(new URLSearchParams(await request.text()));
      calls.push({ contentType: request.headers.get("content-type"), fields });
      if (mode === "hang") return new Promise<Response>(() => {});
      if (mode === "fail") return new Response("upstream trouble", { status: 500 });
      if (request.method !== "POST" || fields.secret === undefined)
        return Response.json({ success: false, "error-codes": ["missing-input-secret"] });
      if (fields.secret !== SECRET) return Response.json({ success: false, "error-codes": ["invalid-input-secret"] });
      if (fields.response !== VALID_TOKEN)
        return Response.json({ success: false, "error-codes": ["invalid-input-response"] });
      return Response.json({
        success: true,
        "error-codes": [],
        challenge_ts: new Date().toISOString(),
        hostname: "localhost",
      });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/siteverify`,
    calls,
    setMode: (next: typeof mode) => {
      mode = next;
    },
    stop: () => server.stop(true),
  };
}

interface Harness {
  runtime: TestRuntime;
  app: RampartApp;
  call(
    method: string,
    path: string,
    options?: { body?: unknown; token?: string; ip?: string; headers?: Record<string, string> },
  ): Promise<Response>;
}

async function openHarness(env: Record<string, string>): Promise<Harness> {
  const runtime = await openTestRuntime({ env: { TRUST_PROXY: "1", ADMIN_TOKEN, ...env } });
  const app = buildApp(runtime, [createAuthRoutes({ passwordHashing: FAST_HASHING }), admin]);
  const call: Harness["call"] = (method, path, options = {}) => {
    const headers: Record<string, string> = { "x-forwarded-for": options.ip ?? freshIp(), ...options.headers };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.token !== undefined) headers[HUMAN_VERIFICATION_HEADER] = options.token;
    return app.fetch(
      new Request(`http://localhost${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      }),
    );
  };
  return { runtime, app, call };
}

const configuredFor = (url: string, extra: Record<string, string> = {}) => ({
  HUMAN_VERIFICATION_PROVIDER: "turnstile",
  HUMAN_VERIFICATION_SECRET: SECRET,
  HUMAN_VERIFICATION_URL: url,
  ...extra,
});

async function errorOf(response: Response) {
  return ((await response.json()) as { error: { code: string; message: string; details?: Record<string, unknown> } })
    .error;
}

const openHarnesses: Harness[] = [];
const providers: ReturnType<typeof startProvider>[] = [];
afterAll(async () => {
  for (const provider of providers) provider.stop();
  await Promise.all(openHarnesses.map((h) => h.runtime.close()));
});

async function harnessWith(env: Record<string, string>) {
  const harness = await openHarness(env);
  openHarnesses.push(harness);
  return harness;
}

function provider() {
  const started = startProvider();
  providers.push(started);
  return started;
}

describe("human verification on sign-up and login in emergency mode", () => {
  const stand = provider();
  let h: Harness;
  beforeAll(async () => {
    h = await harnessWith(configuredFor(stand.url, { CORS_ORIGINS: "https://app.example.com" }));
  }, SETUP_MS);
  const setEmergency = async (enabled: boolean) => {
    const response = await h.call("POST", "/admin/emergency", {
      body: { enabled },
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(200);
  };

  test("with emergency mode off, sign-up and login need no token and the provider is never called", async () => {
    const email = freshEmail();
    expect((await h.call("POST", "/v1/auth/signup", { body: { email, password: PASSWORD } })).status).toBe(201);
    expect((await h.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD } })).status).toBe(200);
    expect(stand.calls).toEqual([]);
  });

  test(
    "with emergency mode on, a valid token signs up (201) and logs in " +
      "(200); the provider gets secret, token and address form-encoded",
    async () => {
      await setEmergency(true);
      try {
        const email = freshEmail();
        const ip = freshIp();
        const signup = await h.call("POST", "/v1/auth/signup", {
          body: { email, password: PASSWORD },
          token: VALID_TOKEN,
          ip,
        });
        expect(signup.status).toBe(201);
        expect(((await signup.json()) as { user: { email: string } }).user.email).toBe(email);
        const login = await h.call("POST", "/v1/auth/login", {
          body: { email, password: PASSWORD },
          token: VALID_TOKEN,
          ip: freshIp(),
        });
        expect(login.status).toBe(200);
        expect(stand.calls).toHaveLength(2);
        expect(stand.calls[0]).toEqual({
          contentType: expect.stringContaining("application/x-www-form-urlencoded"),
          fields: { secret: SECRET, response: VALID_TOKEN, remoteip: ip },
        });
      } finally {
        await setEmergency(false);
        stand.calls.length = 0;
      }
    },
  );

  test(
    "with emergency mode on, a missing or refused token is 403 " +
      "HUMAN_VERIFICATION_REQUIRED and no account is created",
    async () => {
      await setEmergency(true);
      try {
        const email = freshEmail();
        const missing = await h.call("POST", "/v1/auth/signup", { body: { email, password: PASSWORD } });
        expect(missing.status).toBe(403);
        expect(await errorOf(missing)).toMatchObject({
          code: "HUMAN_VERIFICATION_REQUIRED",
          message: expect.stringContaining("X-Human-Verification"),
        });
        // A missing token is refused without asking the provider.
        expect(stand.calls).toEqual([]);

        const refused = await h.call("POST", "/v1/auth/signup", {
          body: { email, password: PASSWORD },
          token: "forged-token",
        });
        expect(refused.status).toBe(403);
        expect(await errorOf(refused)).toMatchObject({
          code: "HUMAN_VERIFICATION_REQUIRED",
          details: { errorCodes: ["invalid-input-response"] },
        });
        expect(stand.calls.map((c) => c.fields.response)).toEqual(["forged-token"]);
        expect(await h.runtime.db.primary.select().from(users).where(eq(users.email, email))).toEqual([]);

        // Login is challenged before the password is looked at.
        const login = await h.call("POST", "/v1/auth/login", { body: { email, password: PASSWORD }, token: "" });
        expect(login.status).toBe(403);
        expect((await errorOf(login)).code).toBe("HUMAN_VERIFICATION_REQUIRED");
      } finally {
        await setEmergency(false);
        stand.calls.length = 0;
      }
    },
  );

  test("refresh is not challenged: signed-in clients keep their sessions through emergency mode", async () => {
    const signup = await h.call("POST", "/v1/auth/signup", { body: { email: freshEmail(), password: PASSWORD } });
    const { refreshToken } = (await signup.json()) as { refreshToken: string };
    await setEmergency(true);
    try {
      expect((await h.call("POST", "/v1/auth/refresh", { body: { refreshToken } })).status).toBe(200);
      expect(stand.calls).toEqual([]);
    } finally {
      await setEmergency(false);
    }
  });

  test("a browser on an allowed origin may send X-Human-Verification (CORS preflight)", async () => {
    const preflight = await h.app.fetch(
      new Request("http://localhost/v1/auth/signup", {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example.com",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, x-human-verification",
        },
      }),
    );
    const allowed = (preflight.headers.get("access-control-allow-headers") ?? "")
      .split(",")
      .map((name) => name.trim().toLowerCase());
    expect(allowed).toContain("x-human-verification");
  });
});

describe("human verification when the provider fails", () => {
  test(
    "unreachable: 503 DEPENDENCY_UNAVAILABLE with Retry-After, never an account",
    async () => {
      // Nothing listens on a port just freed.
      const h = await harnessWith(configuredFor(`http://127.0.0.1:${freePort()}/siteverify`));
      await h.runtime.settings.update({ emergency: { enabled: true } }, "test");
      const email = freshEmail();
      const response = await h.call("POST", "/v1/auth/signup", {
        body: { email, password: PASSWORD },
        token: VALID_TOKEN,
      });
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("1");
      expect((await errorOf(response)).code).toBe("DEPENDENCY_UNAVAILABLE");
      expect(await h.runtime.db.primary.select().from(users).where(eq(users.email, email))).toEqual([]);
    },
    SETUP_MS,
  );

  test(
    "a server error is 503; silent past the timeout is 503; after three failures the breaker answers 503 " +
      "without calling",
    async () => {
      const stand = provider();
      const h = await harnessWith(configuredFor(stand.url, { HUMAN_VERIFICATION_TIMEOUT_MS: "200" }));
      await h.runtime.settings.update({ emergency: { enabled: true } }, "test");
      const login = () =>
        h.call("POST", "/v1/auth/login", { body: { email: freshEmail(), password: PASSWORD }, token: VALID_TOKEN });

      stand.setMode("fail");
      const failed = await login();
      expect({ status: failed.status, code: (await errorOf(failed)).code }).toEqual({
        status: 503,
        code: "DEPENDENCY_UNAVAILABLE",
      });

      stand.setMode("hang");
      for (let i = 0; i < 3; i++) {
        const silent = await login();
        expect({ status: silent.status, code: (await errorOf(silent)).code }).toEqual({
          status: 503,
          code: "DEPENDENCY_UNAVAILABLE",
        });
      }
      expect(h.runtime.logLines.some((line) => line.includes('"circuit opened"'))).toBe(true);

      // The provider is back, but the breaker is open: refused without a call, never admitted.
      stand.setMode("answer");
      const callsBefore = stand.calls.length;
      const open = await login();
      expect({ status: open.status, code: (await errorOf(open)).code }).toEqual({
        status: 503,
        code: "DEPENDENCY_UNAVAILABLE",
      });
      expect(stand.calls.length).toBe(callsBefore);
    },
    SETUP_MS,
  );

  test(
    "a secret the provider refuses is 503 and logged as ours, not 403 for the caller",
    async () => {
      const stand = provider();
      const h = await harnessWith(configuredFor(stand.url, { HUMAN_VERIFICATION_SECRET: "wrong-secret-0123456789" }));
      await h.runtime.settings.update({ emergency: { enabled: true } }, "test");
      const response = await h.call("POST", "/v1/auth/signup", {
        body: { email: freshEmail(), password: PASSWORD },
        token: VALID_TOKEN,
      });
      expect(response.status).toBe(503);
      const body = await response.text();
      expect(body).toContain("DEPENDENCY_UNAVAILABLE");
      expect(body).not.toContain("wrong-secret");
      expect(h.runtime.logLines.find((line) => line.includes("secret refused"))).toContain("invalid-input-secret");
    },
    SETUP_MS,
  );
});

describe("human verification not configured", () => {
  test(
    "emergency mode on changes nothing for sign-up",
    async () => {
      const h = await harnessWith({});
      await h.runtime.settings.update({ emergency: { enabled: true } }, "test");
      expect(
        (await h.call("POST", "/v1/auth/signup", { body: { email: freshEmail(), password: PASSWORD } })).status,
      ).toBe(201);
    },
    SETUP_MS,
  );
});

// Last: every scenario above has logged what it logs.
test("no log line of any scenario carries the provider secret", () => {
  const lines = openHarnesses.flatMap((h) => h.runtime.logLines);
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain("wrong-secret-0123456789");
  }
});
