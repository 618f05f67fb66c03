import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { auditEvents } from "../lib/db/schema/index.ts";
import { metricsRegistry } from "../lib/metrics/metrics-registry.ts";
import { BACKEND_HOOK_TIMEOUT_MS, STORE_BACKENDS } from "../test/backends.ts";
import {
  type IdentityTestApp,
  type IssuedKey,
  openIdentityTestApp,
  stableErrorOf,
  type TestUser,
} from "../test/identity-client.ts";

interface VerifyAnswer {
  valid: boolean;
  code: string;
  keyId: string | null;
  externalId: string | null;
  scopes: string[] | null;
  meta: Record<string, unknown> | null;
  remaining: number | null;
  ratelimit: { limit: number; remaining: number; reset: number } | null;
}

describe.each(STORE_BACKENDS)("key metadata, state, identities and the verify endpoint (%s store)", (store) => {
  let harness: IdentityTestApp;
  let owner: TestUser;
  let orgId: string;
  let otherOrgId: string;
  let root: IssuedKey;
  let otherRoot: IssuedKey;
  beforeAll(async () => {
    harness = await openIdentityTestApp("pglite", store);
    owner = await harness.client.createUser();
    orgId = await harness.client.createOrg(owner);
    otherOrgId = await harness.client.createOrg(owner, "Other");
    root = await harness.client.issueKey(owner, orgId, { scopes: ["keys:verify"] });
    otherRoot = await harness.client.issueKey(owner, otherOrgId, { scopes: ["keys:verify"] });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  const verify = async (body: Record<string, unknown>, rootKey = root.key): Promise<VerifyAnswer> =>
    harness.client.expectJson<VerifyAnswer>(
      await harness.client.call("POST", "/v1/keys/verify", { token: rootKey, body }),
      200,
    );
  const readOrg = (key: string) => harness.client.call("GET", `/v1/orgs/${orgId}`, { token: key });
  const patchKey = (keyId: string, body: Record<string, unknown>) =>
    harness.client.call("PATCH", `/v1/orgs/${orgId}/keys/${keyId}`, { token: owner.token, body });

  test("VALID: the key's id, scopes, metadata, customer and credits left", async () => {
    const issued = await harness.client.createKey(owner, orgId, {
      scopes: ["orgs:read", "keys:read"],
      meta: { plan: "pro", seats: 3 },
      externalId: "cus_123",
      remaining: 10,
    });
    expect(await verify({ key: issued.key, scopes: ["orgs:read"], cost: 2 })).toEqual({
      valid: true,
      code: "VALID",
      keyId: issued.id,
      externalId: "cus_123",
      scopes: ["orgs:read", "keys:read"],
      meta: { plan: "pro", seats: 3 },
      remaining: 8,
      ratelimit: null,
    });
  });

  test("NOT_FOUND for an unknown, a revoked and another organization's key, all alike", async () => {
    const theirs = await harness.client.issueKey(owner, otherOrgId, { meta: { secret: "theirs" } });
    const revoked = await harness.client.issueKey(owner, orgId);
    await harness.client.call("DELETE", `/v1/orgs/${orgId}/keys/${revoked.id}`, { token: owner.token });
    const unknown = harness.runtime.services.identity.apiKeys.format.generate().key;
    const notFound = { ...nothing, valid: false, code: "NOT_FOUND" };
    for (const key of [unknown, revoked.key, theirs.key, "not-even-a-key"])
      expect(await verify({ key })).toEqual(notFound);
    // Disabled elsewhere: still nothing about it, not even its state.
    await harness.client.call("PATCH", `/v1/orgs/${otherOrgId}/keys/${theirs.id}`, {
      token: owner.token,
      body: { enabled: false },
    });
    expect(await verify({ key: theirs.key })).toEqual(notFound);
    expect((await verify({ key: theirs.key }, otherRoot.key)).code).toBe("DISABLED");
  });

  test("a disabled key: the 401 of an unknown key on routes, DISABLED to its owner; enabled, it works", async () => {
    const issued = await harness.client.createKey(owner, orgId);
    expect((await readOrg(issued.key)).status).toBe(200);
    const disabled = await harness.client.expectJson<{ enabled: boolean }>(
      await patchKey(issued.id, { enabled: false }),
      200,
    );
    expect(disabled.enabled).toBe(false);
    const unknown = harness.runtime.services.identity.apiKeys.format.generate().key;
    expect(await stableErrorOf(await readOrg(issued.key))).toEqual(await stableErrorOf(await readOrg(unknown)));
    expect(await verify({ key: issued.key })).toEqual({ ...nothing, valid: false, code: "DISABLED", keyId: issued.id });
    await harness.client.expectJson(await patchKey(issued.id, { enabled: true }), 200);
    expect((await readOrg(issued.key)).status).toBe(200);
    expect((await verify({ key: issued.key })).code).toBe("VALID");
    const audit = await harness.runtime.db.primary
      .select({ action: auditEvents.action, metadata: auditEvents.metadata })
      .from(auditEvents)
      .where(and(eq(auditEvents.targetType, "api_key"), eq(auditEvents.targetId, issued.id)))
      .orderBy(auditEvents.id);
    expect(audit.map((row) => [row.action, row.metadata])).toEqual([
      ["api_key.created", expect.anything()],
      ["api_key.updated", { old: { enabled: true }, new: { enabled: false } }],
      ["api_key.updated", { old: { enabled: false }, new: { enabled: true } }],
    ]);
  });

  test("EXPIRED for a key past its expiry", async () => {
    const issued = await harness.client.issueKey(owner, orgId, { expiresAt: new Date(harness.clock.now() + 60_000) });
    expect((await verify({ key: issued.key })).code).toBe("VALID");
    try {
      harness.clock.advance(60_000);
      expect(await verify({ key: issued.key })).toEqual({
        ...nothing,
        valid: false,
        code: "EXPIRED",
        keyId: issued.id,
      });
    } finally {
      harness.clock.reset();
    }
  });

  test("INSUFFICIENT_SCOPES when the key lacks a requested scope, and nothing is spent", async () => {
    const issued = await harness.client.issueKey(owner, orgId, { credits: { remaining: 1 } });
    const answer = await verify({ key: issued.key, scopes: ["orgs:read", "audit:read"] });
    expect(answer).toMatchObject({ valid: false, code: "INSUFFICIENT_SCOPES", keyId: issued.id });
    expect(await verify({ key: issued.key, cost: 0 })).toMatchObject({ valid: true, remaining: 1 });
  });

  test("USAGE_EXCEEDED once the credits are spent, by the verify endpoint and routes alike", async () => {
    const issued = await harness.client.issueKey(owner, orgId, { credits: { remaining: 2 } });
    expect(await verify({ key: issued.key })).toMatchObject({ code: "VALID", remaining: 1 });
    expect((await readOrg(issued.key)).headers.get("usage-remaining")).toBe("0");
    expect(await verify({ key: issued.key })).toMatchObject({ valid: false, code: "USAGE_EXCEEDED", remaining: 0 });
    const refused = await readOrg(issued.key);
    expect((await stableErrorOf(refused)).error.code).toBe("USAGE_EXCEEDED");
  });

  test("RATE_LIMITED past the key's own limit, with the limit's state", async () => {
    const issued = await harness.client.issueKey(owner, orgId, { rateLimitPerMinute: 2 });
    expect(await verify({ key: issued.key })).toMatchObject({ code: "VALID", ratelimit: { limit: 2, remaining: 1 } });
    expect((await verify({ key: issued.key })).code).toBe("VALID");
    expect(await verify({ key: issued.key })).toMatchObject({
      valid: false,
      code: "RATE_LIMITED",
      ratelimit: { limit: 2, remaining: 0 },
    });
  });

  const putIdentity = async (externalId: string, body: Record<string, unknown>) =>
    harness.client.expectJson<{ identity: Record<string, unknown> }>(
      await harness.client.call("PUT", `/v1/orgs/${orgId}/identities/${externalId}`, { token: owner.token, body }),
      200,
    );
  const keysOf = async (externalId: string) => [
    await harness.client.issueKey(owner, orgId, { externalId }),
    await harness.client.issueKey(owner, orgId, { externalId }),
  ];

  test("keys of one identity share its named rate limit, on routes and the verify endpoint", async () => {
    const { identity } = await putIdentity("cus_limited", {
      ratelimits: [{ name: "requests", limit: 3, duration: 60_000 }],
    });
    expect(identity).toMatchObject({ externalId: "cus_limited", rateLimits: [{ name: "requests", limit: 3 }] });
    const [a, b] = (await keysOf("cus_limited")) as [IssuedKey, IssuedKey];
    const statuses = [];
    for (const key of [a, b, a, b]) statuses.push((await readOrg(key.key)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(await verify({ key: a.key })).toMatchObject({ code: "RATE_LIMITED", ratelimit: { limit: 3, remaining: 0 } });
  });

  test("keys of one identity share its credits: a customer cannot multiply them by making keys", async () => {
    await putIdentity("cus_metered", { remaining: 3 });
    const [a, b] = (await keysOf("cus_metered")) as [IssuedKey, IssuedKey];
    expect((await readOrg(a.key)).headers.get("usage-remaining")).toBe("2");
    expect(await verify({ key: b.key })).toMatchObject({ code: "VALID", remaining: 1 });
    expect((await readOrg(b.key)).headers.get("usage-remaining")).toBe("0");
    expect(await verify({ key: a.key })).toMatchObject({ code: "USAGE_EXCEEDED", remaining: 0 });
    // Topped up by the owner: the new count replaces the live one at once.
    await putIdentity("cus_metered", { remaining: 10 });
    expect(await verify({ key: b.key })).toMatchObject({ code: "VALID", remaining: 9 });
  });

  test("every outcome is counted per key and per organization, read back by outcome over time", async () => {
    const issued = await harness.client.issueKey(owner, orgId, { credits: { remaining: 1 } });
    expect((await readOrg(issued.key)).status).toBe(200);
    expect((await readOrg(issued.key)).status).toBe(429);
    expect((await verify({ key: issued.key, scopes: ["audit:read"] })).code).toBe("INSUFFICIENT_SCOPES");
    expect((await verify({ key: issued.key })).code).toBe("USAGE_EXCEEDED");
    await metricsRegistry().flush(harness.runtime.store, harness.clock.now(), true);
    await harness.runtime.services.identity.apiKeys.settled();
    // Up to a few minutes ahead: an earlier test moved the clock forward, and the registry's window with it.
    const window = `granularity=day&to=${new Date(harness.clock.now() + 300_000).toISOString()}`;
    const counts = await harness.client.expectJson<{ lastUsedAt: string | null; buckets: { outcomes: object }[] }>(
      await harness.client.call("GET", `/v1/orgs/${orgId}/keys/${issued.id}/verifications?${window}`, {
        token: owner.token,
      }),
      200,
    );
    expect(counts.buckets.map((bucket) => bucket.outcomes)).toEqual([
      { VALID: 1, USAGE_EXCEEDED: 2, INSUFFICIENT_SCOPES: 1 },
    ]);
    expect(Date.parse(counts.lastUsedAt ?? "")).toBeGreaterThan(harness.clock.now() - 60_000);
    const org = await harness.client.expectJson<{ buckets: { outcomes: Record<string, number> }[] }>(
      await harness.client.call("GET", `/v1/orgs/${orgId}/verifications?${window}`, { token: owner.token }),
      200,
    );
    expect(org.buckets.at(-1)?.outcomes.INSUFFICIENT_SCOPES).toBeGreaterThanOrEqual(1);
    // Another organization's key is not this organization's to count.
    const theirs = await harness.client.issueKey(owner, otherOrgId);
    const hidden = await harness.client.call("GET", `/v1/orgs/${orgId}/keys/${theirs.id}/verifications`, {
      token: owner.token,
    });
    expect(hidden.status).toBe(404);
  });

  test("metadata over 4 KiB is refused with the field named", async () => {
    const response = await harness.client.call("POST", `/v1/orgs/${orgId}/keys`, {
      token: owner.token,
      body: { name: "big", scopes: ["orgs:read"], meta: { blob: "x".repeat(5_000) } },
    });
    expect(await stableErrorOf(response)).toMatchObject({
      status: 422,
      error: { code: "VALIDATION_FAILED", details: { fields: [{ path: "meta" }] } },
    });
  });

  test("a root key without keys:verify is refused, and so is a user's token", async () => {
    const plain = await harness.client.issueKey(owner, orgId);
    const call = (token: string) => harness.client.call("POST", "/v1/keys/verify", { token, body: { key: plain.key } });
    expect((await stableErrorOf(await call(plain.key))).status).toBe(403);
    expect((await stableErrorOf(await call(owner.token))).status).toBe(403);
  });
});

const nothing = { keyId: null, externalId: null, scopes: null, meta: null, remaining: null, ratelimit: null };
