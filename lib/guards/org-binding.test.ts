import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import {
  type IdentityTestApp,
  type IssuedKey,
  openIdentityTestApp,
  stableErrorOf,
  type TestUser,
} from "../../test/identity-client.ts";
import { API_KEY_SCOPES } from "../core/api-key-scopes.ts";
import { perOrg } from "../core/policy-presets.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import { policyPlugin } from "../http/policy-plugin.ts";
import { defineRouteGroup } from "../http/route-group.ts";

// A handler that checks nothing itself: whatever guards the org here is the policy.
const widgets = defineRouteGroup("widgets", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/v1/orgs/:orgId/widgets", ({ org }) => ({ org }), {
      userOrKey: { scopes: ["orgs:read"], rateLimits: [] },
      org: { param: "orgId", role: "admin" },
    })
    .get("/v1/orgs/:orgId/gadgets", () => ({ ok: true }), { user: { rateLimits: [perOrg(2, "1m")] }, org: "orgId" })
    .get("/v1/ingest", () => ({ ok: true }), { key: { rateLimits: [perOrg(1, "1m")] } }),
);

let addresses = 0;
const freshIp = () => `10.77.${(++addresses >> 8) & 255}.${addresses & 255}`;

const NO_SUCH_ORG = { status: 404, error: { code: "NOT_FOUND", message: "No such organization." } };

describe("tenant binding", () => {
  let harness: IdentityTestApp;
  let app: RampartApp;
  let owner: TestUser;
  let member: TestUser;
  let stranger: TestUser;
  let orgA: string;
  let orgB: string;
  let keyB: IssuedKey;
  let keyA: IssuedKey;
  const get = (path: string, token: string) =>
    app.fetch(
      new Request(`http://localhost${path}`, {
        headers: { authorization: `Bearer ${token}`, "x-forwarded-for": freshIp() },
      }),
    );
  const widgetsOf = (orgId: string, token: string) =>
    app.fetch(
      new Request(`http://localhost/v1/orgs/${orgId}/widgets`, {
        headers: { authorization: `Bearer ${token}`, "x-forwarded-for": "10.9.0.1" },
      }),
    );

  beforeAll(async () => {
    harness = await openIdentityTestApp();
    app = buildApp(harness.runtime, [widgets]);
    owner = await harness.client.createUser();
    member = await harness.client.createUser();
    stranger = await harness.client.createUser();
    orgA = await harness.client.createOrg(owner, "A");
    orgB = await harness.client.createOrg(stranger, "B");
    await harness.client.addMember(owner, orgA, member, "member");
    keyA = await harness.client.issueKey(owner, orgA, { scopes: ["orgs:read"] });
    keyB = await harness.client.issueKey(stranger, orgB, { scopes: [...API_KEY_SCOPES] });
  }, 60_000);
  afterAll(() => harness.runtime.close());

  test("another org's key holding every scope is answered exactly like a missing organization", async () => {
    expect(await stableErrorOf(await widgetsOf(orgA, keyB.key))).toEqual(NO_SUCH_ORG);
    expect(await stableErrorOf(await widgetsOf(crypto.randomUUID(), keyB.key))).toEqual(NO_SUCH_ORG);
  });

  test("a signed-in user who is not a member gets 404, not 403", async () => {
    expect(await stableErrorOf(await widgetsOf(orgA, stranger.token))).toEqual(NO_SUCH_ORG);
  });

  test("a member below the declared role gets 403 naming the role", async () => {
    expect(await stableErrorOf(await widgetsOf(orgA, member.token))).toEqual({
      status: 403,
      error: { code: "FORBIDDEN", message: "This needs the admin role in the organization." },
    });
  });

  test("the handler receives the bound org with the user's role, or the key that acts for it", async () => {
    expect(await (await widgetsOf(orgA, owner.token)).json()).toEqual({
      org: { id: orgA, access: { kind: "user", userId: owner.userId, role: "owner" } },
    });
    expect(await (await widgetsOf(orgA, keyA.key)).json()).toEqual({
      org: { id: orgA, access: { kind: "api_key", keyId: keyA.id } },
    });
  });

  test("an org id that is not a UUID is a validation error naming the parameter, never a database error", async () => {
    const answer = await stableErrorOf(await widgetsOf("not-a-uuid", owner.token));
    expect(answer).toMatchObject({
      status: 422,
      error: { code: "VALIDATION_FAILED", details: { fields: [{ path: "orgId" }] } },
    });
  });

  test(
    "binding a parameter the path lacks, or binding on a route without a " + "caller, fails when the app is built",
    () => {
      const misbound = defineRouteGroup("misbound", () =>
        new Elysia()
          .use(policyPlugin)
          .get("/v1/widgets", () => ({}), { policy: { access: "user", org: { param: "orgId" } } }),
      );
      expect(() => buildApp(harness.runtime, [misbound])).toThrow(
        "route GET /v1/widgets binds the organization to :orgId, which its path lacks",
      );
      const anonymous = defineRouteGroup("anonymous", () =>
        new Elysia()
          .use(policyPlugin)
          .get("/v1/orgs/:orgId/open", () => ({}), { policy: { access: "public", org: { param: "orgId" } } }),
      );
      expect(() => buildApp(harness.runtime, [anonymous])).toThrow(
        'route GET /v1/orgs/:orgId/open binds an organization but its access is "public"',
      );
    },
  );

  test("an org-scoped limit counts every member of the org together, from any address, and no other org", async () => {
    const statuses = [];
    for (const user of [owner, member, owner])
      statuses.push((await get(`/v1/orgs/${orgA}/gadgets`, user.token)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await get(`/v1/orgs/${orgB}/gadgets`, stranger.token)).status).toBe(200);
  });

  test("a key-only route refuses a signed-in user and counts its org limit per key's org", async () => {
    expect(await stableErrorOf(await get("/v1/ingest", owner.token))).toEqual({
      status: 403,
      error: {
        code: "FORBIDDEN",
        message: "This route takes an API key; a signed-in user's access token is not accepted here.",
      },
    });
    expect((await get("/v1/ingest", keyA.key)).status).toBe(200);
    expect((await get("/v1/ingest", keyA.key)).status).toBe(429);
    expect((await get("/v1/ingest", keyB.key)).status).toBe(200);
  });
});
