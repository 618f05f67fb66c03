import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { oidcIdentities } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { errorOf, FAST_HASHING, freshEmail, freshIp } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { type GitHubStandIn, startGitHubStandIn } from "../test/github-oauth-stand-in.ts";
import { createOidcRoutes } from "./oidc.ts";

const BASE = "http://localhost";

describe("sign-in with GitHub (OAuth and its user API, a local stand-in)", () => {
  let github: GitHubStandIn;
  let runtime: TestRuntime;
  let app: RampartApp;
  let ids = 1_000;

  beforeAll(async () => {
    github = startGitHubStandIn();
    runtime = await openTestRuntime({
      env: {
        TRUST_PROXY: "1",
        OIDC_REDIRECT_BASE_URL: BASE,
        OIDC_GITHUB_CLIENT_ID: github.clientId,
        OIDC_GITHUB_CLIENT_SECRET: github.clientSecret,
        OIDC_GITHUB_URL: github.url,
        OIDC_GITHUB_API_URL: github.url,
      },
    });
    app = buildApp(runtime, [createOidcRoutes({ passwordHashing: FAST_HASHING })]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    github.close();
    await runtime.close();
  });

  /** A browser's round trip: start, GitHub's approval (the stand-in's redirect), and the callback. */
  const signInAs = async (user: { id: number; email: string; verified: boolean }) => {
    github.nextUser = user;
    const ip = freshIp();
    const started = await app.fetch(
      new Request(`${BASE}/v1/auth/oidc/github/start`, { headers: { "x-forwarded-for": ip } }),
    );
    expect(started.status).toBe(302);
    const authorize = await fetch(started.headers.get("location") ?? "", { redirect: "manual" });
    const back = new URL(authorize.headers.get("location") ?? "");
    const cookie = (started.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    return app.fetch(
      new Request(`${BASE}${back.pathname}${back.search}`, { headers: { cookie, "x-forwarded-for": ip } }),
    );
  };

  test("the numeric GitHub id is the identity: a new e-mail at GitHub still signs in the same account", async () => {
    const id = ++ids;
    const email = freshEmail();
    const first = await signInAs({ id, email, verified: true });
    const created = (await first.json()) as { outcome: string; user: { id: string; email: string } };
    expect(created).toMatchObject({ outcome: "created", user: { email } });
    const linked = await runtime.db.primary
      .select()
      .from(oidcIdentities)
      .where(eq(oidcIdentities.subject, String(id)));
    expect(linked).toMatchObject([{ issuer: github.url, provider: "github", userId: created.user.id }]);

    const again = await signInAs({ id, email: freshEmail(), verified: true });
    expect(await again.json()).toMatchObject({ outcome: "signed_in", user: { id: created.user.id, email } });
  });

  test("a primary e-mail GitHub has not verified creates no account", async () => {
    const id = ++ids;
    const response = await signInAs({ id, email: freshEmail(), verified: false });
    expect(response.status).toBe(409);
    expect((await errorOf(response)).code).toBe("OIDC_EMAIL_UNVERIFIED");
    expect(
      await runtime.db.primary
        .select()
        .from(oidcIdentities)
        .where(eq(oidcIdentities.subject, String(id))),
    ).toEqual([]);
  });

  test("a code GitHub refuses (already exchanged) is OIDC_SIGN_IN_FAILED, not a 500", async () => {
    github.nextUser = { id: ++ids, email: freshEmail(), verified: true };
    const ip = freshIp();
    const start = () =>
      app.fetch(new Request(`${BASE}/v1/auth/oidc/github/start`, { headers: { "x-forwarded-for": ip } }));
    const first = await start();
    const authorize = await fetch(first.headers.get("location") ?? "", { redirect: "manual" });
    const code = new URL(authorize.headers.get("location") ?? "").searchParams.get("code") ?? "";
    const cookieOf = (response: Response) => (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const stateOf = (response: Response) => new URL(response.headers.get("location") ?? "").searchParams.get("state");
    const callback = (response: Response) =>
      app.fetch(
        new Request(`${BASE}/v1/auth/oidc/github/callback?code=${code}&state=${stateOf(response)}`, {
          headers: { cookie: cookieOf(response), "x-forwarded-for": ip },
        }),
      );
    expect((await callback(first)).status).toBe(200);
    // The same code under a fresh, valid state of this browser: GitHub has already spent it.
    const replay = await callback(await start());
    expect(replay.status).toBe(401);
    expect((await errorOf(replay)).code).toBe("OIDC_SIGN_IN_FAILED");
  });
});
