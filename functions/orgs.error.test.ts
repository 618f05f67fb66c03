import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS } from "../test/backends.ts";
import { type IdentityTestApp, openIdentityTestApp, stableErrorOf, type TestUser } from "../test/identity-client.ts";

describe.each(DATABASE_BACKENDS)("organizations on %s: errors", (backend) => {
  let harness: IdentityTestApp;
  beforeAll(async () => {
    harness = await openIdentityTestApp(backend);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close());

  const call = (method: string, path: string, user: TestUser, body?: unknown) =>
    harness.client.call(method, path, { token: user.token, body });
  const codeOf = async (response: Response) => (await stableErrorOf(response)).error.code;
  /** An organization with an owner, an admin and a plain member. */
  const team = async () => {
    const [owner, admin, member] = [
      await harness.client.createUser(),
      await harness.client.createUser(),
      await harness.client.createUser(),
    ];
    const orgId = await harness.client.createOrg(owner);
    await harness.client.addMember(owner, orgId, admin, "admin");
    await harness.client.addMember(owner, orgId, member, "member");
    return { orgId, owner, admin, member };
  };

  test("bodies that break the schema are 422", async () => {
    const { orgId, owner, member } = await team();
    const cases: [string, string, unknown][] = [
      ["POST", "/v1/orgs", {}],
      ["POST", "/v1/orgs", { name: "   " }],
      ["POST", "/v1/orgs", { name: "x", apiKeyMaxAgeDays: 0 }],
      ["POST", "/v1/orgs", { name: "x", plan: "enterprise" }],
      ["PATCH", `/v1/orgs/${orgId}`, {}],
      ["PATCH", `/v1/orgs/${orgId}`, { apiKeyMaxAgeDays: 1.5 }],
      ["POST", `/v1/orgs/${orgId}/members`, { userId: member.userId }],
      ["POST", `/v1/orgs/${orgId}/members`, { userId: member.userId, role: "superuser" }],
      ["POST", `/v1/orgs/${orgId}/members`, { userId: member.userId, email: member.email, role: "member" }],
      ["POST", `/v1/orgs/${orgId}/members`, { email: "not-an-email", role: "member" }],
      ["PATCH", `/v1/orgs/${orgId}/members/${member.userId}`, { role: "root" }],
    ];
    for (const [method, path, body] of cases) {
      expect({ method, path, body, code: await codeOf(await call(method, path, owner, body)) }).toEqual({
        method,
        path,
        body,
        code: "VALIDATION_FAILED",
      });
    }
  });

  test("a lone UTF-16 surrogate in an organization or key name is 400 BAD_REQUEST, and nothing is stored", async () => {
    const { orgId, owner } = await team();
    const lone = "\ud800";
    const refused: [string, string, unknown][] = [
      ["POST", "/v1/orgs", { name: lone }],
      ["PATCH", `/v1/orgs/${orgId}`, { name: `Acme ${lone}` }],
      ["POST", `/v1/orgs/${orgId}/keys`, { name: lone, scopes: ["orgs:read"] }],
    ];
    for (const [method, path, body] of refused) {
      const response = await call(method, path, owner, body);
      expect({ method, path, status: response.status, code: await codeOf(response) }).toEqual({
        method,
        path,
        status: 400,
        code: "BAD_REQUEST",
      });
    }
    const { orgs } = (await (await call("GET", "/v1/orgs", owner)).json()) as { orgs: { id: string; name: string }[] };
    expect(orgs.map((org) => [org.id, org.name])).toEqual([[orgId, "Acme"]]);
    expect(((await (await call("GET", `/v1/orgs/${orgId}/keys`, owner)).json()) as { keys: unknown[] }).keys).toEqual(
      [],
    );
  });

  test("adding an unknown user is 404; adding a member twice is 409", async () => {
    const { orgId, owner, member } = await team();
    expect(
      await codeOf(
        await call("POST", `/v1/orgs/${orgId}/members`, owner, { userId: crypto.randomUUID(), role: "member" }),
      ),
    ).toBe("NOT_FOUND");
    expect(
      await codeOf(
        await call("POST", `/v1/orgs/${orgId}/members`, owner, { email: "nobody@example.com", role: "member" }),
      ),
    ).toBe("NOT_FOUND");
    expect(
      await codeOf(await call("POST", `/v1/orgs/${orgId}/members`, owner, { userId: member.userId, role: "admin" })),
    ).toBe("CONFLICT");
  });

  test("changing or removing someone who is not a member is 404", async () => {
    const { orgId, owner } = await team();
    const stranger = await harness.client.createUser();
    expect(
      await codeOf(await call("PATCH", `/v1/orgs/${orgId}/members/${stranger.userId}`, owner, { role: "admin" })),
    ).toBe("NOT_FOUND");
    expect(await codeOf(await call("DELETE", `/v1/orgs/${orgId}/members/${stranger.userId}`, owner))).toBe("NOT_FOUND");
  });

  test("roles are enforced: members cannot manage, admins cannot touch the owner role", async () => {
    const { orgId, owner, admin, member } = await team();
    const other = await harness.client.createUser();
    const forbidden: [TestUser, string, string, unknown?][] = [
      [member, "PATCH", `/v1/orgs/${orgId}`, { name: "Mine" }],
      [member, "POST", `/v1/orgs/${orgId}/members`, { userId: other.userId, role: "member" }],
      [member, "PATCH", `/v1/orgs/${orgId}/members/${admin.userId}`, { role: "member" }],
      [member, "DELETE", `/v1/orgs/${orgId}/members/${admin.userId}`],
      [member, "GET", `/v1/orgs/${orgId}/keys`],
      [member, "GET", `/v1/orgs/${orgId}/audit`],
      [admin, "POST", `/v1/orgs/${orgId}/members`, { userId: other.userId, role: "owner" }],
      [admin, "PATCH", `/v1/orgs/${orgId}/members/${member.userId}`, { role: "owner" }],
      [admin, "PATCH", `/v1/orgs/${orgId}/members/${owner.userId}`, { role: "member" }],
      [admin, "DELETE", `/v1/orgs/${orgId}/members/${owner.userId}`],
    ];
    for (const [user, method, path, body] of forbidden) {
      const role = user === member ? "member" : "admin";
      expect({ role, method, path, code: await codeOf(await call(method, path, user, body)) }).toEqual({
        role,
        method,
        path,
        code: "FORBIDDEN",
      });
    }
    // Admins do manage members and admins.
    expect((await call("PATCH", `/v1/orgs/${orgId}/members/${member.userId}`, admin, { role: "admin" })).status).toBe(
      200,
    );
  });

  test("the last owner can be neither demoted nor removed, not even by themself (409)", async () => {
    const { orgId, owner } = await team();
    expect(
      await codeOf(await call("PATCH", `/v1/orgs/${orgId}/members/${owner.userId}`, owner, { role: "admin" })),
    ).toBe("CONFLICT");
    expect(await codeOf(await call("DELETE", `/v1/orgs/${orgId}/members/${owner.userId}`, owner))).toBe("CONFLICT");
    expect((await call("GET", `/v1/orgs/${orgId}`, owner)).status).toBe(200);
  });

  test("two owners demoting each other at the same moment leave exactly one owner", async () => {
    for (let round = 0; round < 5; round++) {
      const { orgId, owner, member: second } = await team();
      await call("PATCH", `/v1/orgs/${orgId}/members/${second.userId}`, owner, { role: "owner" });
      const outcomes = await Promise.all([
        call("PATCH", `/v1/orgs/${orgId}/members/${second.userId}`, owner, { role: "member" }),
        call("PATCH", `/v1/orgs/${orgId}/members/${owner.userId}`, second, { role: "member" }),
      ]);
      const statuses = outcomes.map((response) => response.status).sort();
      // The loser is either refused as the last owner (409) or, demoted first, no longer allowed to (403).
      expect(statuses[0]).toBe(200);
      expect([403, 409]).toContain(statuses[1] ?? 0);
      const { members } = (await (await call("GET", `/v1/orgs/${orgId}/members`, owner)).json()) as {
        members: { role: string }[];
      };
      expect(members.filter((m) => m.role === "owner")).toHaveLength(1);
    }
  });

  test("no credentials, or a malformed id, never reach the handler", async () => {
    expect((await harness.client.call("GET", `/v1/orgs/${crypto.randomUUID()}`)).status).toBe(401);
    expect((await harness.client.call("POST", "/v1/orgs", { body: { name: "x" } })).status).toBe(401);
    const user = await harness.client.createUser();
    expect(await codeOf(await call("GET", "/v1/orgs/123", user))).toBe("VALIDATION_FAILED");
  });
});
