import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import {
  ADMIN_TOKEN,
  type IdentityTestApp,
  type IssuedKey,
  openIdentityTestApp,
  type TestUser,
} from "../../test/identity-client.ts";
import { buildApp, type RampartApp } from "./app.ts";
import { policyPlugin } from "./policy-plugin.ts";
import { defineRouteGroup } from "./route-group.ts";

// Each handler answers with exactly what its option handed it.
const typed = defineRouteGroup("typed", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/typed/user", ({ user, requestContext }) => ({ user, requestId: requestContext.requestId }), {
      user: { rateLimits: [] },
    })
    .get("/typed/key", ({ key }) => ({ keyId: key.keyId, orgId: key.orgId }), {
      key: { scopes: ["orgs:read"], rateLimits: [] },
    })
    .get("/typed/either", ({ caller }) => ({ kind: caller.kind }), { userOrKey: { rateLimits: [] } })
    .get("/typed/admin", ({ actor }) => ({ actor }), { admin: { rateLimits: [] } })
    .get("/typed/orgs/:orgId", ({ org, caller }) => ({ org, kind: caller.kind }), {
      userOrKey: { scopes: ["orgs:read"], rateLimits: [] },
      org: "orgId",
    }),
);

describe("typed route options hand the handler what the pipeline admitted", () => {
  let harness: IdentityTestApp;
  let app: RampartApp;
  let owner: TestUser;
  let org: string;
  let key: IssuedKey;
  const get = async (path: string, token: string, requestId?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (requestId !== undefined) headers["x-request-id"] = requestId;
    const response = await app.fetch(new Request(`http://localhost${path}`, { headers }));
    return { status: response.status, body: await response.json() };
  };

  beforeAll(async () => {
    harness = await openIdentityTestApp();
    app = buildApp(harness.runtime, [typed]);
    owner = await harness.client.createUser();
    org = await harness.client.createOrg(owner, "Typed");
    key = await harness.client.issueKey(owner, org, { scopes: ["orgs:read"] });
  }, 60_000);
  afterAll(() => harness.runtime.close());

  test("user: the signed-in user and session, and the request's own context", async () => {
    const answer = await get("/typed/user", owner.token, "typed-request-0001");
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      user: { kind: "user", userId: owner.userId, sessionId: expect.any(String), authTime: expect.any(Number) },
      requestId: "typed-request-0001",
    });
  });

  test("key: the API key and its organization", async () => {
    expect(await get("/typed/key", key.key)).toEqual({ status: 200, body: { keyId: key.id, orgId: org } });
  });

  test("userOrKey: whichever of them called", async () => {
    expect((await get("/typed/either", owner.token)).body).toEqual({ kind: "user" });
    expect((await get("/typed/either", key.key)).body).toEqual({ kind: "api_key" });
  });

  test("admin: the holder of ADMIN_TOKEN, as the audit trail names it", async () => {
    expect(await get("/typed/admin", ADMIN_TOKEN)).toEqual({
      status: 200,
      body: { actor: { type: "admin", id: "admin" } },
    });
  });

  test("org: the organization the path names, with the caller's role there", async () => {
    expect((await get(`/typed/orgs/${org}`, owner.token)).body).toEqual({
      org: { id: org, access: { kind: "user", userId: owner.userId, role: "owner" } },
      kind: "user",
    });
  });
});

// Not run: compiled by `bun run typecheck`, which fails if any line below stops being an error.
export function valuesARouteCannotHave(): void {
  new Elysia()
    .use(policyPlugin)
    // @ts-expect-error a key-only route has no signed-in user
    .get("/a", ({ user }) => user, { key: { rateLimits: [] } })
    // @ts-expect-error a user-only route has no API key
    .get("/b", ({ key }) => key, { user: { rateLimits: [] } })
    // @ts-expect-error no `org` without tenant binding
    .get("/c/:orgId", ({ org }) => org, { userOrKey: { rateLimits: [] } })
    // @ts-expect-error a public route has no caller
    .get("/d", ({ caller }) => caller, { public: { rateLimits: [] } })
    // @ts-expect-error a misspelt scope
    .get("/e", () => 1, { key: { scopes: ["orgs:raed"] } })
    // @ts-expect-error scopes on a route that admits no key
    .get("/f", () => 1, { user: { scopes: ["orgs:read"] } });
}
