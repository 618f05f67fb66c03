import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS } from "../test/backends.ts";
import {
  type IdentityTestApp,
  type IssuedKey,
  openIdentityTestApp,
  stableErrorOf,
  type TestUser,
} from "../test/identity-client.ts";

describe.each(DATABASE_BACKENDS)("organizations on %s: security", (backend) => {
  let harness: IdentityTestApp;
  let ownerA: TestUser;
  let ownerB: TestUser;
  let memberB: TestUser;
  let orgA: string;
  let orgB: string;
  let keyA: IssuedKey;
  beforeAll(async () => {
    harness = await openIdentityTestApp(backend);
    ownerA = await harness.client.createUser();
    ownerB = await harness.client.createUser();
    memberB = await harness.client.createUser();
    orgA = await harness.client.createOrg(ownerA, "Tenant A");
    orgB = await harness.client.createOrg(ownerB, "Tenant B");
    await harness.client.addMember(ownerB, orgB, memberB, "member");
    keyA = await harness.client.issueKey(ownerA, orgA, { scopes: ["orgs:read", "orgs:write"] });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close());

  const call = (method: string, path: string, token: string, body?: unknown) =>
    harness.client.call(method, path, { token, body });

  test(
    "a user of org A gets org B and its members answered exactly like an " + "organization that does not exist",
    async () => {
      const missing = crypto.randomUUID();
      const pairs: [string, string, unknown?][] = [
        ["GET", ""],
        ["PATCH", "", { name: "Hijacked" }],
        ["GET", "/members"],
        ["POST", "/members", { userId: ownerA.userId, role: "owner" }],
        ["PATCH", `/members/${ownerB.userId}`, { role: "member" }],
        ["DELETE", `/members/${memberB.userId}`],
      ];
      for (const [method, suffix, body] of pairs) {
        const answer = await stableErrorOf(await call(method, `/v1/orgs/${orgB}${suffix}`, ownerA.token, body));
        expect({ method, suffix, answer }).toEqual({
          method,
          suffix,
          answer: await stableErrorOf(await call(method, `/v1/orgs/${missing}${suffix}`, ownerA.token, body)),
        });
        expect(answer).toEqual({ status: 404, error: { code: "NOT_FOUND", message: "No such organization." } });
      }
      const org = await harness.client.expectJson<{ name: string }>(
        await call("GET", `/v1/orgs/${orgB}`, ownerB.token),
        200,
      );
      expect(org.name).toBe("Tenant B");
      const { members } = await harness.client.expectJson<{ members: unknown[] }>(
        await call("GET", `/v1/orgs/${orgB}/members`, ownerB.token),
        200,
      );
      expect(members).toHaveLength(2);
    },
  );

  test("a key acts only on its own organization: org B answers it 404, org A serves it", async () => {
    for (const [method, path, body] of [
      ["GET", `/v1/orgs/${orgB}`],
      ["PATCH", `/v1/orgs/${orgB}`, { name: "Hijacked" }],
      ["GET", `/v1/orgs/${orgB}/members`],
    ] as [string, string, unknown?][]) {
      expect({ path, answer: await stableErrorOf(await call(method, path, keyA.key, body)) }).toEqual({
        path,
        answer: { status: 404, error: { code: "NOT_FOUND", message: "No such organization." } },
      });
    }
    expect((await call("GET", `/v1/orgs/${orgA}/members`, keyA.key)).status).toBe(200);
    expect((await call("PATCH", `/v1/orgs/${orgA}`, keyA.key, { apiKeyMaxAgeDays: 90 })).status).toBe(200);
  });

  test("a key's change is audited under the key, not a user", async () => {
    await call("PATCH", `/v1/orgs/${orgA}`, keyA.key, { name: "Renamed by key" });
    const { events } = await harness.client.expectJson<{
      events: { action: string; actor: { type: string; id: string } }[];
    }>(await call("GET", `/v1/orgs/${orgA}/audit?action=org.updated&limit=1`, ownerA.token), 200);
    expect(events[0]?.actor).toEqual({ type: "api_key", id: keyA.id });
  });

  test("a removed member loses access at once", async () => {
    const leaving = await harness.client.createUser();
    await harness.client.addMember(ownerA, orgA, leaving, "admin");
    expect((await call("GET", `/v1/orgs/${orgA}`, leaving.token)).status).toBe(200);
    expect((await call("DELETE", `/v1/orgs/${orgA}/members/${leaving.userId}`, ownerA.token)).status).toBe(204);
    for (const [method, path] of [
      ["GET", `/v1/orgs/${orgA}`],
      ["GET", `/v1/orgs/${orgA}/members`],
      ["GET", `/v1/orgs/${orgA}/keys`],
    ] as const) {
      expect((await call(method, path, leaving.token)).status).toBe(404);
    }
  });

  test("a demoted admin loses admin rights at once", async () => {
    const demoted = await harness.client.createUser();
    await harness.client.addMember(ownerA, orgA, demoted, "admin");
    expect((await call("GET", `/v1/orgs/${orgA}/keys`, demoted.token)).status).toBe(200);
    await call("PATCH", `/v1/orgs/${orgA}/members/${demoted.userId}`, ownerA.token, { role: "member" });
    expect((await call("GET", `/v1/orgs/${orgA}/keys`, demoted.token)).status).toBe(403);
  });

  test("a forged access token is the plain 401", async () => {
    const forged = `${ownerA.token.slice(0, -4)}AAAA`;
    expect(await stableErrorOf(await call("GET", `/v1/orgs/${orgA}`, forged))).toEqual({
      status: 401,
      error: { code: "UNAUTHORIZED", message: "Authentication is required." },
    });
  });
});
