import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { auditEvents } from "../lib/db/schema/index.ts";
import { DATABASE_BACKENDS } from "../test/backends.ts";
import { type ErrorBody, type IdentityTestApp, openIdentityTestApp, type TestUser } from "../test/identity-client.ts";

describe.each(DATABASE_BACKENDS)("API keys on %s: errors", (backend) => {
  let harness: IdentityTestApp;
  let owner: TestUser;
  let member: TestUser;
  let orgId: string;
  beforeAll(async () => {
    harness = await openIdentityTestApp(backend);
    owner = await harness.client.createUser();
    member = await harness.client.createUser();
    orgId = await harness.client.createOrg(owner);
    await harness.client.addMember(owner, orgId, member, "member");
  }, 60_000);
  afterAll(() => harness.runtime.close());

  const create = (body: unknown, user: TestUser = owner, org = orgId) =>
    harness.client.call("POST", `/v1/orgs/${org}/keys`, { token: user.token, body });
  // Key creation allows a burst of 10 a second per user: tests that make many use owners of their own.
  const freshOwner = async () => {
    const user = await harness.client.createUser();
    return { user, orgId: await harness.client.createOrg(user) };
  };
  const errorOf = async (response: Response) => ({
    status: response.status,
    error: ((await response.json()) as ErrorBody).error,
  });

  test("a key request that breaks the schema is 422 naming the field", async () => {
    const cases: [unknown, string][] = [
      [{ name: "k", scopes: ["keys:write"] }, "scopes"],
      [{ name: "k", scopes: ["orgs:read", "admin"] }, "scopes"],
      [{ name: "k", scopes: [] }, "scopes"],
      [{ name: "  ", scopes: ["orgs:read"] }, "name"],
      [{ name: "k".repeat(101), scopes: ["orgs:read"] }, "name"],
      [{ name: "k", scopes: ["orgs:read"], rateLimitPerMinute: 0 }, "rateLimitPerMinute"],
      [{ name: "k", scopes: ["orgs:read"], rateLimitPerMinute: 1.5 }, "rateLimitPerMinute"],
      [{ name: "k", scopes: ["orgs:read"], expiresAt: "tomorrow" }, "expiresAt"],
      [{ name: "k", scopes: ["orgs:read"], expiresAt: new Date(Date.now() - 1_000).toISOString() }, "expiresAt"],
      [{ name: "k", scopes: ["orgs:read"], orgId: crypto.randomUUID() }, "orgId"],
    ];
    for (const [body, field] of cases) {
      const fresh = await freshOwner();
      const { status, error } = await errorOf(await create(body, fresh.user, fresh.orgId));
      expect({ body, status, code: error.code }).toEqual({ body, status: 422, code: "VALIDATION_FAILED" });
      expect(JSON.stringify(error.details)).toContain(field);
    }
  });

  test("repeated scopes are stored once", async () => {
    const { user, orgId } = await freshOwner();
    const issued = await harness.client.createKey(user, orgId, { scopes: ["orgs:read", "orgs:read", "keys:read"] });
    expect(issued.scopes).toEqual(["orgs:read", "keys:read"]);
  });

  test("a plain member may neither create, list, revoke nor rotate keys (403)", async () => {
    const issued = await harness.client.createKey(owner, orgId);
    const attempts = [
      create({ name: "mine", scopes: ["orgs:read"] }, member),
      harness.client.call("GET", `/v1/orgs/${orgId}/keys`, { token: member.token }),
      harness.client.call("DELETE", `/v1/orgs/${orgId}/keys/${issued.id}`, { token: member.token }),
      harness.client.call("POST", `/v1/keys/${issued.id}/rotate`, { token: member.token, body: {} }),
    ];
    for (const response of await Promise.all(attempts)) expect((await errorOf(response)).error.code).toBe("FORBIDDEN");
  });

  test("revoking an unknown key is 404; revoking twice succeeds twice with one audit row", async () => {
    const { user, orgId } = await freshOwner();
    expect(
      (
        await errorOf(
          await harness.client.call("DELETE", `/v1/orgs/${orgId}/keys/${crypto.randomUUID()}`, { token: user.token }),
        )
      ).status,
    ).toBe(404);
    const issued = await harness.client.createKey(user, orgId);
    for (let i = 0; i < 2; i++)
      expect(
        (await harness.client.call("DELETE", `/v1/orgs/${orgId}/keys/${issued.id}`, { token: user.token })).status,
      ).toBe(204);
    const rows = await harness.runtime.db.primary
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "api_key.revoked"), eq(auditEvents.targetId, issued.id)));
    expect(rows).toHaveLength(1);
  });

  test("a key already rotated, revoked or expired cannot be rotated (409); an unknown one is 404", async () => {
    const { user, orgId } = await freshOwner();
    const rotate = (keyId: string) =>
      harness.client.call("POST", `/v1/keys/${keyId}/rotate`, { token: user.token, body: {} });
    const rotated = await harness.client.createKey(user, orgId);
    expect((await rotate(rotated.id)).status).toBe(201);
    const revoked = await harness.client.createKey(user, orgId);
    await harness.client.call("DELETE", `/v1/orgs/${orgId}/keys/${revoked.id}`, { token: user.token });
    const expired = await harness.client.createKey(user, orgId, {
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    });
    harness.clock.advance(60_000);
    try {
      for (const key of [rotated, revoked, expired])
        expect((await errorOf(await rotate(key.id))).error.code).toBe("CONFLICT");
    } finally {
      harness.clock.reset();
    }
    expect((await errorOf(await rotate(crypto.randomUUID()))).status).toBe(404);
  });

  test("a grace period outside 0 to 7 days is 422", async () => {
    const { user, orgId } = await freshOwner();
    const issued = await harness.client.createKey(user, orgId);
    for (const gracePeriodSeconds of [-1, 7 * 86_400 + 1, 1.5, "60"]) {
      const response = await harness.client.call("POST", `/v1/keys/${issued.id}/rotate`, {
        token: user.token,
        body: { gracePeriodSeconds },
      });
      expect((await errorOf(response)).error.code).toBe("VALIDATION_FAILED");
    }
  });

  test("malformed ids in the path are 422, not a database error", async () => {
    for (const path of [`/v1/orgs/not-a-uuid/keys`, `/v1/orgs/${orgId}/keys/1`]) {
      const response = await harness.client.call(path.endsWith("/keys") ? "GET" : "DELETE", path, {
        token: owner.token,
      });
      expect((await errorOf(response)).status).toBe(422);
    }
    expect((await harness.client.call("POST", "/v1/keys/abc/rotate", { token: owner.token, body: {} })).status).toBe(
      422,
    );
  });
});
