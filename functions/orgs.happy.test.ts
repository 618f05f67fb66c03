import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { asc, eq } from "drizzle-orm";
import { auditEvents } from "../lib/db/schema/index.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS } from "../test/backends.ts";
import { type IdentityTestApp, openIdentityTestApp, type TestUser } from "../test/identity-client.ts";

interface Org {
  id: string;
  name: string;
  apiKeyMaxAgeDays: number | null;
  createdAt: string;
  role?: string;
}
interface Member {
  userId: string;
  email: string;
  role: string;
  joinedAt: string;
}

describe.each(DATABASE_BACKENDS)("organizations on %s: the happy path", (backend) => {
  let harness: IdentityTestApp;
  let owner: TestUser;
  beforeAll(async () => {
    harness = await openIdentityTestApp(backend);
    owner = await harness.client.createUser();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close());

  const call = (method: string, path: string, user: TestUser, body?: unknown) =>
    harness.client.call(method, path, { token: user.token, body });
  const membersOf = async (orgId: string, user: TestUser = owner) =>
    (await harness.client.expectJson<{ members: Member[] }>(await call("GET", `/v1/orgs/${orgId}/members`, user), 200))
      .members;

  test("creating an organization makes its creator the owner", async () => {
    const created = await harness.client.expectJson<Org>(
      await call("POST", "/v1/orgs", owner, { name: "  Acme Corp  ", apiKeyMaxAgeDays: 90 }),
      201,
    );
    expect(created).toMatchObject({ name: "Acme Corp", apiKeyMaxAgeDays: 90, role: "owner" });
    const read = await harness.client.expectJson<Org>(await call("GET", `/v1/orgs/${created.id}`, owner), 200);
    expect(read).toEqual({ id: created.id, name: "Acme Corp", apiKeyMaxAgeDays: 90, createdAt: created.createdAt });
    expect(await membersOf(created.id)).toEqual([
      { userId: owner.userId, email: owner.email, role: "owner", joinedAt: expect.any(String) },
    ]);
    const { orgs } = await harness.client.expectJson<{ orgs: Org[] }>(await call("GET", "/v1/orgs", owner), 200);
    expect(orgs.find((org) => org.id === created.id)).toMatchObject({ name: "Acme Corp", role: "owner" });
  });

  test("an admin adds members by user id or by e-mail, in any case", async () => {
    const orgId = await harness.client.createOrg(owner);
    const admin = await harness.client.createUser();
    const byEmail = await harness.client.createUser();
    await harness.client.addMember(owner, orgId, admin, "admin");
    const added = await harness.client.expectJson<Member>(
      await call("POST", `/v1/orgs/${orgId}/members`, admin, { email: byEmail.email.toUpperCase(), role: "member" }),
      201,
    );
    expect(added).toMatchObject({ userId: byEmail.userId, email: byEmail.email, role: "member" });
    const members = await membersOf(orgId, byEmail);
    expect(members.map(({ userId, role }) => ({ userId, role }))).toEqual([
      { userId: owner.userId, role: "owner" },
      { userId: admin.userId, role: "admin" },
      { userId: byEmail.userId, role: "member" },
    ]);
  });

  test("roles change, an owner hands over ownership, and members leave", async () => {
    const orgId = await harness.client.createOrg(owner);
    const successor = await harness.client.createUser();
    const leaver = await harness.client.createUser();
    await harness.client.addMember(owner, orgId, successor, "member");
    await harness.client.addMember(owner, orgId, leaver, "member");
    expect(
      await harness.client.expectJson(
        await call("PATCH", `/v1/orgs/${orgId}/members/${successor.userId}`, owner, { role: "owner" }),
        200,
      ),
    ).toEqual({ userId: successor.userId, role: "owner" });
    // With a second owner, the first may step down.
    expect((await call("PATCH", `/v1/orgs/${orgId}/members/${owner.userId}`, owner, { role: "admin" })).status).toBe(
      200,
    );
    expect((await call("DELETE", `/v1/orgs/${orgId}/members/${leaver.userId}`, leaver)).status).toBe(204);
    const members = await membersOf(orgId, successor);
    expect(Object.fromEntries(members.map((m) => [m.userId, m.role]))).toEqual({
      [owner.userId]: "admin",
      [successor.userId]: "owner",
    });
    expect((await call("GET", `/v1/orgs/${orgId}`, leaver)).status).toBe(404);
  });

  test("an admin changes the organization's name and key age policy", async () => {
    const orgId = await harness.client.createOrg(owner);
    const updated = await harness.client.expectJson<Org>(
      await call("PATCH", `/v1/orgs/${orgId}`, owner, { name: "Renamed", apiKeyMaxAgeDays: 30 }),
      200,
    );
    expect(updated).toMatchObject({ id: orgId, name: "Renamed", apiKeyMaxAgeDays: 30 });
    const cleared = await harness.client.expectJson<Org>(
      await call("PATCH", `/v1/orgs/${orgId}`, owner, { apiKeyMaxAgeDays: null }),
      200,
    );
    expect(cleared).toMatchObject({ name: "Renamed", apiKeyMaxAgeDays: null });
  });

  test("each change leaves an audit row with actor, organization, target and request", async () => {
    const orgId = await harness.client.createOrg(owner);
    const member = await harness.client.createUser();
    await harness.client.addMember(owner, orgId, member, "member");
    await call("PATCH", `/v1/orgs/${orgId}/members/${member.userId}`, owner, { role: "admin" });
    await call("PATCH", `/v1/orgs/${orgId}`, owner, { name: "Audited" });
    await call("DELETE", `/v1/orgs/${orgId}/members/${member.userId}`, owner);
    const rows = await harness.runtime.db.primary
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.orgId, orgId))
      .orderBy(asc(auditEvents.id));
    expect(rows.map((row) => [row.action, row.targetType, row.targetId, row.metadata])).toEqual([
      ["org.created", "organization", orgId, { name: "Acme" }],
      ["org.member.added", "user", member.userId, { role: "member" }],
      ["org.member.role_changed", "user", member.userId, { from: "member", to: "admin" }],
      ["org.updated", "organization", orgId, { changes: { name: "Audited" } }],
      ["org.member.removed", "user", member.userId, { role: "admin" }],
    ]);
    for (const row of rows)
      expect(row).toMatchObject({
        actorType: "user",
        actorId: owner.userId,
        requestId: expect.any(String),
        ip: expect.stringMatching(/^10\./),
      });
  });
});
