import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { createApiKeyFormat, hashApiKey } from "../lib/auth/api-key-format.ts";
import type { NewApiKey } from "../lib/auth/api-keys.ts";
import { API_KEY_SCOPES } from "../lib/core/api-key-scopes.ts";
import { auditEvents } from "../lib/db/schema/index.ts";
import { buildApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { DATABASE_BACKENDS } from "../test/backends.ts";
import { withCountedQueries } from "../test/counting-db.ts";
import {
  type IdentityTestApp,
  type IssuedKey,
  openIdentityTestApp,
  stableErrorOf,
  type TestUser,
} from "../test/identity-client.ts";
import me from "./me.ts";

const ALL_SCOPES = API_KEY_SCOPES;

// A route that touches no database itself, so any query counted on it is the key check's.
const probe = defineRouteGroup("probe", () =>
  new Elysia().use(policyPlugin).get("/probe", ({ caller }) => caller, { userOrKey: { rateLimits: [] } }),
);

describe.each(DATABASE_BACKENDS)("API keys on %s: security", (backend) => {
  let harness: IdentityTestApp;
  let ownerA: TestUser;
  let ownerB: TestUser;
  let orgA: string;
  let orgB: string;
  let keyB: IssuedKey;
  const issued: IssuedKey[] = [];

  const createKey = async (owner: TestUser, orgId: string, input: Partial<NewApiKey> = {}) => {
    const key = await harness.client.issueKey(owner, orgId, input);
    issued.push(key);
    return key;
  };
  const call = (method: string, path: string, token: string, body?: unknown) =>
    harness.client.call(method, path, { token, body });

  // Opening PGlite and migrating it takes a few seconds on a loaded machine.
  beforeAll(async () => {
    harness = await openIdentityTestApp(backend);
    ownerA = await harness.client.createUser();
    ownerB = await harness.client.createUser();
    orgA = await harness.client.createOrg(ownerA, "Tenant A");
    orgB = await harness.client.createOrg(ownerB, "Tenant B");
    keyB = await createKey(ownerB, orgB, { scopes: ALL_SCOPES });
  }, 30_000);
  afterAll(() => harness.runtime.close());
  afterEach(() => harness.clock.reset());

  describe("every dead or bogus key gets the same 401 as no credentials at all", () => {
    test("unknown, malformed, bad checksum, revoked, expired and past grace", async () => {
      const format = createApiKeyFormat("rk");
      const live = await createKey(ownerA, orgA);
      const revoked = await createKey(ownerA, orgA);
      await call("DELETE", `/v1/orgs/${orgA}/keys/${revoked.id}`, ownerA.token);
      const expired = await createKey(ownerA, orgA, { expiresAt: new Date(Date.now() + 60_000) });
      const rotatedAway = await createKey(ownerA, orgA);
      await call("POST", `/v1/keys/${rotatedAway.id}/rotate`, ownerA.token, { gracePeriodSeconds: 0 });
      expect((await call("GET", `/v1/orgs/${orgA}`, expired.key)).status).toBe(200);
      // A minute on: the expired key is past its expiresAt. afterEach puts the clock back.
      harness.clock.advance(60_000);
      const lastChar = live.key.at(-1) === "a" ? "b" : "a";
      const presented: Record<string, string> = {
        unknown: format.generate().key,
        truncated: live.key.slice(0, -1),
        lengthened: `${live.key}a`,
        "bad checksum": `${live.key.slice(0, -1)}${lastChar}`,
        "one typo in the random part": live.key.slice(0, 10) + (live.key[10] === "x" ? "y" : "x") + live.key.slice(11),
        "not base62": `${live.key.slice(0, 10)}-${live.key.slice(11)}`,
        "prefix only": "rk_",
        "another prefix": `xk_${live.key.slice(3)}`,
        revoked: revoked.key,
        expired: expired.key,
        "past its rotation grace": rotatedAway.key,
      };
      const reference = await stableErrorOf(await harness.client.call("GET", `/v1/orgs/${orgA}`));
      expect(reference).toEqual({
        status: 401,
        error: { code: "UNAUTHORIZED", message: "Authentication is required." },
      });
      for (const [name, key] of Object.entries(presented)) {
        expect({ name, ...(await stableErrorOf(await call("GET", `/v1/orgs/${orgA}`, key))) }).toEqual({
          name,
          ...reference,
        });
      }
      expect((await call("GET", `/v1/orgs/${orgA}`, live.key)).status).toBe(200);
    });

    test("a live key is read from Authorization: Bearer only; sent as X-Api-Key it is 401", async () => {
      const live = await createKey(ownerA, orgA);
      const headers = { "x-api-key": live.key, "x-forwarded-for": "198.51.100.23" };
      const refused = await harness.app.fetch(new Request(`http://localhost/v1/orgs/${orgA}`, { headers }));
      expect(await stableErrorOf(refused)).toEqual({
        status: 401,
        error: { code: "UNAUTHORIZED", message: "Authentication is required." },
      });
      expect((await call("GET", `/v1/orgs/${orgA}`, live.key)).status).toBe(200);
    });

    test("a typo, a truncated paste or a key without its checksum is refused without a database query", async () => {
      const counted = withCountedQueries(harness.runtime);
      const verifier = counted.runtime.services.identity.apiKeys;
      const live = await createKey(ownerA, orgA);
      counted.reset();
      for (const key of [
        `${live.key.slice(0, -1)}${live.key.at(-1) === "a" ? "b" : "a"}`,
        live.key.slice(0, 20),
        `rk_${"A".repeat(49)}`,
      ]) {
        expect(await verifier.verify(key)).toBeUndefined();
      }
      expect(counted.queries()).toBe(0);
    });
  });

  describe("warm verification", () => {
    test("a warm key check costs no database query, through the HTTP app and the verifier alike", async () => {
      const counted = withCountedQueries(harness.runtime);
      const app = buildApp(counted.runtime, [probe]);
      const live = await createKey(ownerA, orgA, { scopes: ["orgs:read"] });
      const callProbe = () =>
        app.fetch(new Request("http://localhost/probe", { headers: { authorization: `Bearer ${live.key}` } }));

      counted.reset();
      const cold = await callProbe();
      expect(await cold.json()).toEqual({ kind: "api_key", keyId: live.id, orgId: orgA, scopes: ["orgs:read"] });
      // The cold check reads the key's row, and its first use is recorded.
      expect(counted.queries()).toBe(2);

      counted.reset();
      for (let i = 0; i < 20; i++) expect((await callProbe()).status).toBe(200);
      const warm = counted.runtime.services.identity.apiKeys.verify(live.key);
      // Warm and recently checked for revocation: answered from memory, not even a promise.
      expect(warm instanceof Promise).toBe(false);
      expect(warm).toMatchObject({ keyId: live.id });
      expect(counted.queries()).toBe(0);
    });

    test("concurrent first uses of a key on a cold instance share one query", async () => {
      const counted = withCountedQueries(harness.runtime);
      const live = await createKey(ownerA, orgA);
      counted.reset();
      const verifier = counted.runtime.services.identity.apiKeys;
      const callers = await Promise.all(Array.from({ length: 10 }, () => verifier.verify(live.key)));
      expect(callers.every((caller) => caller?.keyId === live.id)).toBe(true);
      // One lookup and one last-used write.
      expect(counted.queries()).toBe(2);
    });
  });

  describe("scopes", () => {
    test("a read-only key on a write route is 403 naming the missing scope; a key holding it passes", async () => {
      const reader = await createKey(ownerA, orgA, { scopes: ["orgs:read"] });
      const writer = await createKey(ownerA, orgA, { scopes: ["orgs:write"] });
      const refused = await call("PATCH", `/v1/orgs/${orgA}`, reader.key, { name: "Renamed" });
      expect(await stableErrorOf(refused)).toEqual({
        status: 403,
        error: {
          code: "FORBIDDEN",
          message: "This API key lacks a scope the route requires.",
          details: { required: ["orgs:write"] },
        },
      });
      expect((await call("PATCH", `/v1/orgs/${orgA}`, writer.key, { name: "Renamed" })).status).toBe(200);
      // and the writer, lacking orgs:read, cannot read
      expect((await call("GET", `/v1/orgs/${orgA}`, writer.key)).status).toBe(403);
    });

    test(
      "no key may create, revoke or rotate keys, change members or read a " +
        "user's own routes, whatever its scopes (403 saying why)",
      async () => {
        const strong = await createKey(ownerA, orgA, { scopes: ALL_SCOPES });
        const victim = await createKey(ownerA, orgA);
        const attempts: [string, string, unknown?][] = [
          ["POST", `/v1/orgs/${orgA}/keys`, { name: "escalate", scopes: ALL_SCOPES }],
          ["DELETE", `/v1/orgs/${orgA}/keys/${victim.id}`],
          ["POST", `/v1/keys/${strong.id}/rotate`, {}],
          ["POST", `/v1/orgs/${orgA}/members`, { userId: ownerB.userId, role: "owner" }],
          ["PATCH", `/v1/orgs/${orgA}/members/${ownerA.userId}`, { role: "member" }],
          ["DELETE", `/v1/orgs/${orgA}/members/${ownerA.userId}`],
          ["POST", "/v1/orgs", { name: "Key-made org" }],
          ["GET", "/v1/orgs"],
        ];
        const needsUser = {
          status: 403,
          error: {
            code: "FORBIDDEN",
            message: "This route needs a signed-in user's access token; API keys are not accepted here.",
          },
        };
        for (const [method, path, body] of attempts) {
          expect({ method, path, ...(await stableErrorOf(await call(method, path, strong.key, body))) }).toEqual({
            method,
            path,
            ...needsUser,
          });
        }
        const meApp = buildApp(harness.runtime, [me]);
        const meResponse = await meApp.fetch(
          new Request("http://localhost/v1/me", { headers: { authorization: `Bearer ${strong.key}` } }),
        );
        expect(await stableErrorOf(meResponse)).toEqual(needsUser);
        expect((await call("GET", `/v1/orgs/${orgA}`, victim.key)).status).toBe(200);
      },
    );
  });

  describe("tenants cannot reach or probe each other", () => {
    test("a user of org A gets org B's keys and audit answered exactly like ones that do not exist", async () => {
      const missingOrg = crypto.randomUUID();
      const missingKey = crypto.randomUUID();
      const pairs: [string, string, string, unknown?][] = [
        ["GET", `/v1/orgs/${orgB}/keys`, `/v1/orgs/${missingOrg}/keys`],
        ["POST", `/v1/orgs/${orgB}/keys`, `/v1/orgs/${missingOrg}/keys`, { name: "x", scopes: ["orgs:read"] }],
        ["DELETE", `/v1/orgs/${orgB}/keys/${keyB.id}`, `/v1/orgs/${missingOrg}/keys/${keyB.id}`],
        ["DELETE", `/v1/orgs/${orgA}/keys/${keyB.id}`, `/v1/orgs/${orgA}/keys/${missingKey}`],
        ["POST", `/v1/keys/${keyB.id}/rotate`, `/v1/keys/${missingKey}/rotate`, {}],
        ["GET", `/v1/orgs/${orgB}/audit`, `/v1/orgs/${missingOrg}/audit`],
      ];
      for (const [method, theirs, missing, body] of pairs) {
        const answer = await stableErrorOf(await call(method, theirs, ownerA.token, body));
        expect({ method, theirs, answer }).toEqual({
          method,
          theirs,
          answer: await stableErrorOf(await call(method, missing, ownerA.token, body)),
        });
        expect(answer.status).toBe(404);
      }
      // B's key was neither revoked nor rotated.
      expect((await call("GET", `/v1/orgs/${orgB}`, keyB.key)).status).toBe(200);
    });

    test("a key of org A, holding every scope, gets 404 on org B's keys and audit", async () => {
      const keyA = await createKey(ownerA, orgA, { scopes: ALL_SCOPES });
      for (const [method, path, body] of [
        ["GET", `/v1/orgs/${orgB}/keys`],
        ["GET", `/v1/orgs/${orgB}/audit`],
      ] as [string, string, unknown?][]) {
        const answer = await stableErrorOf(await call(method, path, keyA.key, body));
        expect({ path, answer }).toEqual({
          path,
          answer: { status: 404, error: { code: "NOT_FOUND", message: "No such organization." } },
        });
      }
    });
  });

  test("a key's own rate limit answers 429 once spent, counted across routes", async () => {
    const limited = await createKey(ownerA, orgA, { scopes: ["orgs:read", "keys:read"], rateLimitPerMinute: 2 });
    expect((await call("GET", `/v1/orgs/${orgA}`, limited.key)).status).toBe(200);
    expect((await call("GET", `/v1/orgs/${orgA}/members`, limited.key)).status).toBe(200);
    const refused = await call("GET", `/v1/orgs/${orgA}/keys`, limited.key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect((await stableErrorOf(refused)).error.code).toBe("RATE_LIMITED");
    // Another key of the same org is unaffected.
    expect((await call("GET", `/v1/orgs/${orgA}`, (await createKey(ownerA, orgA)).key)).status).toBe(200);
  });

  test("no key, key hash or key secret appears in any audit row or log line", async () => {
    expect(issued.length).toBeGreaterThan(10);
    const rows = JSON.stringify(await harness.runtime.db.primary.select().from(auditEvents));
    const logs = harness.runtime.logLines.join("\n");
    for (const { key, visiblePrefix } of issued) {
      for (const secret of [key, hashApiKey(key), key.slice(visiblePrefix.length)]) {
        expect(rows.includes(secret)).toBe(false);
        expect(logs.includes(secret)).toBe(false);
      }
    }
  });
});
