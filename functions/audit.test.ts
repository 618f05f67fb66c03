import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { recordAuditEvent } from "../lib/audit/audit-log.ts";
import type { AuditEventView } from "../lib/audit/audit-query.ts";
import { DATABASE_BACKENDS } from "../test/backends.ts";
import {
  ADMIN_TOKEN,
  type IdentityTestApp,
  openIdentityTestApp,
  stableErrorOf,
  type TestUser,
} from "../test/identity-client.ts";

type Event = AuditEventView;
interface Page {
  events: Event[];
  nextCursor: string | null;
}

describe.each(DATABASE_BACKENDS)("audit log queries on %s", (backend) => {
  let harness: IdentityTestApp;
  let owner: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let orgId: string;
  let otherOrgId: string;
  // Opening PGlite and migrating it takes a few seconds on a loaded machine.
  beforeAll(async () => {
    harness = await openIdentityTestApp(backend);
    owner = await harness.client.createUser();
    member = await harness.client.createUser();
    outsider = await harness.client.createUser();
    orgId = await harness.client.createOrg(owner, "Audited");
    otherOrgId = await harness.client.createOrg(outsider, "Elsewhere");
    await harness.client.addMember(owner, orgId, member, "member");
    // Seven more events: three key creations, two role changes, one rename, one revocation.
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push(await harness.client.issueKey(owner, orgId, { name: `key ${i}` }));
    await harness.client.call("PATCH", `/v1/orgs/${orgId}/members/${member.userId}`, {
      token: owner.token,
      body: { role: "admin" },
    });
    await harness.client.call("PATCH", `/v1/orgs/${orgId}/members/${member.userId}`, {
      token: owner.token,
      body: { role: "member" },
    });
    await harness.client.call("PATCH", `/v1/orgs/${orgId}`, { token: owner.token, body: { name: "Audited Inc" } });
    await harness.client.call("DELETE", `/v1/orgs/${orgId}/keys/${keys[0]?.id}`, { token: owner.token });
  }, 30_000);
  afterAll(() => harness.runtime.close());

  const orgAudit = async (query = "", token = owner.token) =>
    harness.client.expectJson<Page>(
      await harness.client.call("GET", `/v1/orgs/${orgId}/audit${query}`, { token }),
      200,
    );
  const adminAudit = (query = "", token = ADMIN_TOKEN) => harness.client.call("GET", `/admin/audit${query}`, { token });

  test("an org admin reads the org's own events, newest first", async () => {
    const { events, nextCursor } = await orgAudit();
    expect(events.map((event) => event.action)).toEqual([
      "api_key.revoked",
      "org.updated",
      "org.member.role_changed",
      "org.member.role_changed",
      "api_key.created",
      "api_key.created",
      "api_key.created",
      "org.member.added",
      "org.created",
    ]);
    expect(nextCursor).toBeNull();
    expect(events.every((event) => event.orgId === orgId)).toBe(true);
    expect(events.at(-1)).toMatchObject({
      actor: { type: "user", id: owner.userId },
      target: { type: "organization", id: orgId },
    });
  });

  test("pages follow the cursor without repeating or skipping, even while events are written", async () => {
    const all = (await orgAudit()).events.map((event) => event.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await orgAudit(`?limit=2${cursor === null ? "" : `&cursor=${cursor}`}`);
      expect(page.events.length).toBeLessThanOrEqual(2);
      seen.push(...page.events.map((event) => event.id));
      cursor = page.nextCursor;
      // A new event mid-way lands before the first page, not inside the one being read.
      if (seen.length === 2)
        await harness.client.call("PATCH", `/v1/orgs/${orgId}`, { token: owner.token, body: { name: "Audited Inc" } });
    } while (cursor !== null);
    expect(seen).toEqual(all);
  });

  test("filters: action, actor, since and until", async () => {
    const created = await orgAudit("?action=api_key.created");
    expect(created.events).toHaveLength(3);
    const byMember = await orgAudit(`?actor=${member.userId}`);
    expect(byMember.events).toHaveLength(0);
    const byOwner = await orgAudit(`?actor=${owner.userId}&action=org.member.role_changed`);
    expect(byOwner.events).toHaveLength(2);

    const all = (await orgAudit()).events;
    const oldest = all.at(-1)?.occurredAt ?? "";
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await orgAudit(`?since=${encodeURIComponent(future)}`)).events).toHaveLength(0);
    expect((await orgAudit(`?until=${encodeURIComponent(oldest)}`)).events).toHaveLength(0);
    expect((await orgAudit(`?since=${encodeURIComponent(oldest)}`)).events).toHaveLength(all.length);
  });

  test(
    "a plain member is refused (403); another org's admin and " + "unauthenticated callers are not told it exists",
    async () => {
      expect(
        (await stableErrorOf(await harness.client.call("GET", `/v1/orgs/${orgId}/audit`, { token: member.token })))
          .status,
      ).toBe(403);
      const outsiders = await stableErrorOf(
        await harness.client.call("GET", `/v1/orgs/${orgId}/audit`, { token: outsider.token }),
      );
      expect(outsiders).toEqual(
        await stableErrorOf(
          await harness.client.call("GET", `/v1/orgs/${crypto.randomUUID()}/audit`, { token: outsider.token }),
        ),
      );
      expect(outsiders.status).toBe(404);
      expect((await harness.client.call("GET", `/v1/orgs/${orgId}/audit`)).status).toBe(401);
    },
  );

  test("a key with audit:read reads its own org's log; without the scope it is 403", async () => {
    const reader = await harness.client.issueKey(owner, orgId, { scopes: ["audit:read"] });
    const other = await harness.client.issueKey(owner, orgId, { scopes: ["orgs:read"] });
    expect((await orgAudit("?limit=1", reader.key)).events).toHaveLength(1);
    expect((await harness.client.call("GET", `/v1/orgs/${orgId}/audit`, { token: other.key })).status).toBe(403);
  });

  test("query parameters are validated", async () => {
    for (const query of [
      "?limit=0",
      "?limit=201",
      "?limit=ten",
      "?cursor=-1",
      "?cursor=abc",
      "?since=yesterday",
      "?orgId=x",
      "?unknown=1",
    ]) {
      const response = await harness.client.call("GET", `/v1/orgs/${orgId}/audit${query}`, { token: owner.token });
      expect({ query, code: (await stableErrorOf(response)).error.code }).toEqual({ query, code: "VALIDATION_FAILED" });
    }
  });

  test("since and until outside what PostgreSQL stores are 422 naming the field, on both routes", async () => {
    const cases: [string, string][] = [
      ["since", "0000-01-01"],
      ["until", "0000-01-01"],
      ["since", "9999-12-31T23:00:00-05:00"],
      ["until", "0000-12-31T23:59:59.999Z"],
    ];
    for (const [field, value] of cases) {
      const query = `?${field}=${encodeURIComponent(value)}`;
      for (const response of [
        await harness.client.call("GET", `/v1/orgs/${orgId}/audit${query}`, { token: owner.token }),
        await adminAudit(query),
      ]) {
        const { status, error } = await stableErrorOf(response);
        expect({ query, status, code: error.code, fields: error.details?.fields }).toEqual({
          query,
          status: 422,
          code: "VALIDATION_FAILED",
          fields: [{ path: field, message: `${field} must be a date from 0001-01-01 to 9999-12-31` }],
        });
      }
    }
    expect((await orgAudit("?since=0001-01-01&until=9999-12-31T23:59:59.999Z")).events.length).toBeGreaterThan(0);
  });

  test("the operator reads every org's events with ADMIN_TOKEN, filtered by org if asked", async () => {
    await recordAuditEvent(harness.runtime.db.primary, {
      action: "ip.blocked",
      actor: { type: "system" },
      metadata: { reason: "test" },
    });
    const all = (await harness.client.expectJson<Page>(await adminAudit("?limit=200"), 200)).events;
    expect(new Set(all.map((event) => event.orgId))).toEqual(new Set([orgId, otherOrgId, null]));
    const elsewhere = (await harness.client.expectJson<Page>(await adminAudit(`?orgId=${otherOrgId}`), 200)).events;
    expect(elsewhere.map((event) => event.action)).toEqual(["org.created"]);
    const system = (await harness.client.expectJson<Page>(await adminAudit("?action=ip.blocked"), 200)).events;
    expect(system).toHaveLength(1);
  });

  test("the operator route refuses keys and a wrong token (401), and users who are not operators (403)", async () => {
    const key = await harness.client.issueKey(owner, orgId, { scopes: ["audit:read"] });
    for (const token of [undefined, key.key, "wrong-admin-token-0123456789abcdef01"]) {
      expect((await harness.client.call("GET", "/admin/audit", { token })).status).toBe(401);
    }
    expect((await harness.client.call("GET", "/admin/audit", { token: owner.token })).status).toBe(403);
  });
});
