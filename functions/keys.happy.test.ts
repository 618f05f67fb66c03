import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { apiKeys, auditEvents } from "../lib/db/schema/index.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS } from "../test/backends.ts";
import {
  type IdentityTestApp,
  type IssuedKey,
  openIdentityTestApp,
  stableErrorOf,
  type TestUser,
} from "../test/identity-client.ts";

interface KeyView extends Omit<IssuedKey, "key"> {
  revokedAt: string | null;
  graceEndsAt: string | null;
  replacedBy: string | null;
  lastUsedAt: string | null;
  createdBy: string | null;
}

describe.each(DATABASE_BACKENDS)("API keys on %s: the happy path", (backend) => {
  let harness: IdentityTestApp;
  let owner: TestUser;
  let orgId: string;
  beforeAll(async () => {
    harness = await openIdentityTestApp(backend);
    owner = await harness.client.createUser();
    orgId = await harness.client.createOrg(owner);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close());

  const readOrg = (key: string, id = orgId) => harness.client.call("GET", `/v1/orgs/${id}`, { token: key });
  const listKeys = async (): Promise<KeyView[]> =>
    (
      await harness.client.expectJson<{ keys: KeyView[] }>(
        await harness.client.call("GET", `/v1/orgs/${orgId}/keys`, { token: owner.token }),
        200,
      )
    ).keys;
  const auditOf = (keyId: string) =>
    harness.runtime.db.primary
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.targetType, "api_key"), eq(auditEvents.targetId, keyId)))
      .orderBy(auditEvents.id);

  test("an admin creates a key, sees it once, and the key then calls a route its scopes allow", async () => {
    const issued = await harness.client.createKey(owner, orgId, {
      name: "deploy bot",
      scopes: ["orgs:read", "keys:read"],
    });
    expect(issued.key).toMatch(/^rk_[0-9A-Za-z]{49}$/);
    expect(issued).toMatchObject({
      name: "deploy bot",
      scopes: ["orgs:read", "keys:read"],
      visiblePrefix: issued.key.slice(0, 9),
      rateLimitPerMinute: null,
      expiresAt: null,
    });

    const org = await harness.client.expectJson<{ id: string; name: string }>(await readOrg(issued.key), 200);
    expect(org).toMatchObject({ id: orgId, name: "Acme" });

    const [row] = await harness.runtime.db.primary.select().from(apiKeys).where(eq(apiKeys.id, issued.id));
    expect(row?.keyHash).toBe(new Bun.CryptoHasher("sha256").update(issued.key).digest("hex"));
    expect(row?.createdBy).toBe(owner.userId);
  });

  test("the list shows every key's metadata but never a key or its hash", async () => {
    const issued = await harness.client.createKey(owner, orgId, { name: "listed" });
    const response = await harness.client.call("GET", `/v1/orgs/${orgId}/keys`, { token: owner.token });
    const text = await response.clone().text();
    expect(text).not.toContain(issued.key);
    expect(text).not.toContain(new Bun.CryptoHasher("sha256").update(issued.key).digest("hex"));
    const listed = (await listKeys()).find((key) => key.id === issued.id);
    expect(listed).toMatchObject({
      name: "listed",
      visiblePrefix: issued.visiblePrefix,
      scopes: ["orgs:read"],
      revokedAt: null,
      createdBy: owner.userId,
    });
    expect(Object.keys(listed ?? {})).not.toContain("key");
    expect(Object.keys(listed ?? {})).not.toContain("keyHash");
  });

  test("a key with keys:read lists its organization's keys", async () => {
    const reader = await harness.client.createKey(owner, orgId, { scopes: ["keys:read"] });
    const { keys } = await harness.client.expectJson<{ keys: KeyView[] }>(
      await harness.client.call("GET", `/v1/orgs/${orgId}/keys`, { token: reader.key }),
      200,
    );
    expect(keys.map((key) => key.id)).toContain(reader.id);
  });

  test("create → call → revoke → the same 401 at once, and revoked in the list", async () => {
    const issued = await harness.client.createKey(owner, orgId);
    expect((await readOrg(issued.key)).status).toBe(200);
    const revoked = await harness.client.call("DELETE", `/v1/orgs/${orgId}/keys/${issued.id}`, { token: owner.token });
    expect(revoked.status).toBe(204);
    const after = await readOrg(issued.key);
    expect(await stableErrorOf(after)).toEqual(await stableErrorOf(await readOrg("")));
    expect((await listKeys()).find((key) => key.id === issued.id)?.revokedAt).toEqual(expect.any(String));
  });

  test("rotation: the new key inherits scopes, limit and expiry; the old one works until its grace ends", async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const old = await harness.client.createKey(owner, orgId, {
      name: "rotating",
      scopes: ["orgs:read", "audit:read"],
      rateLimitPerMinute: 500,
      expiresAt,
    });
    const rotated = await harness.client.expectJson<IssuedKey & { replaces: { id: string; graceEndsAt: string } }>(
      await harness.client.call("POST", `/v1/keys/${old.id}/rotate`, {
        token: owner.token,
        body: { gracePeriodSeconds: 60 },
      }),
      201,
    );
    expect(rotated.key).not.toBe(old.key);
    expect(rotated).toMatchObject({
      name: "rotating",
      scopes: ["orgs:read", "audit:read"],
      rateLimitPerMinute: 500,
      expiresAt,
    });
    expect(rotated.replaces.id).toBe(old.id);
    expect((await readOrg(rotated.key)).status).toBe(200);
    expect((await readOrg(old.key)).status).toBe(200);
    try {
      harness.clock.advance(Date.parse(rotated.replaces.graceEndsAt) - harness.clock.now() - 1);
      expect((await readOrg(old.key)).status).toBe(200);
      harness.clock.advance(1);
      expect((await readOrg(old.key)).status).toBe(401);
      expect((await readOrg(rotated.key)).status).toBe(200);
    } finally {
      harness.clock.reset();
    }
    const listed = (await listKeys()).find((key) => key.id === old.id);
    expect(listed).toMatchObject({ replacedBy: rotated.id, graceEndsAt: rotated.replaces.graceEndsAt });
  });

  test("rotation without a body uses the default grace of one hour", async () => {
    const old = await harness.client.createKey(owner, orgId);
    const before = Date.now();
    const rotated = await harness.client.expectJson<{ replaces: { graceEndsAt: string } }>(
      await harness.client.call("POST", `/v1/keys/${old.id}/rotate`, { token: owner.token }),
      201,
    );
    expect(Date.parse(rotated.replaces.graceEndsAt) - before).toBeGreaterThanOrEqual(3_600_000 - 1_000);
    expect((await readOrg(old.key)).status).toBe(200);
  });

  test("a rotated key's grace never runs past its own expiry, and its successor expires with it", async () => {
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    const old = await harness.client.createKey(owner, orgId, { expiresAt });
    const rotated = await harness.client.expectJson<IssuedKey & { replaces: { graceEndsAt: string } }>(
      await harness.client.call("POST", `/v1/keys/${old.id}/rotate`, {
        token: owner.token,
        body: { gracePeriodSeconds: 86_400 },
      }),
      201,
    );
    expect(rotated.replaces.graceEndsAt).toBe(expiresAt);
    expect(rotated.expiresAt).toBe(expiresAt);
    expect((await readOrg(old.key)).status).toBe(200);
    try {
      harness.clock.advance(Date.parse(expiresAt) - harness.clock.now() - 1);
      expect((await readOrg(rotated.key)).status).toBe(200);
      harness.clock.advance(1);
      expect((await readOrg(old.key)).status).toBe(401);
      expect((await readOrg(rotated.key)).status).toBe(401);
    } finally {
      harness.clock.reset();
    }
  });

  test("the last use is recorded in the background", async () => {
    const issued = await harness.client.createKey(owner, orgId);
    const before = Date.now();
    expect((await readOrg(issued.key)).status).toBe(200);
    await harness.runtime.services.identity.apiKeys.settled();
    const lastUsedAt = (await listKeys()).find((key) => key.id === issued.id)?.lastUsedAt;
    expect(Date.parse(lastUsedAt ?? "")).toBeGreaterThanOrEqual(before - 1_000);
  });

  test("create, rotate and revoke each leave an audit row naming the actor and the key", async () => {
    const issued = await harness.client.createKey(owner, orgId, { name: "audited" });
    const rotated = await harness.client.expectJson<{ id: string }>(
      await harness.client.call("POST", `/v1/keys/${issued.id}/rotate`, {
        token: owner.token,
        body: { gracePeriodSeconds: 0 },
      }),
      201,
    );
    expect(
      (await harness.client.call("DELETE", `/v1/orgs/${orgId}/keys/${rotated.id}`, { token: owner.token })).status,
    ).toBe(204);
    const events = [...(await auditOf(issued.id)), ...(await auditOf(rotated.id))];
    expect(events.map((event) => event.action)).toEqual(["api_key.created", "api_key.rotated", "api_key.revoked"]);
    for (const event of events)
      expect(event).toMatchObject({
        actorType: "user",
        actorId: owner.userId,
        orgId,
        requestId: expect.any(String),
        ip: expect.any(String),
      });
    expect(events[0]?.metadata).toMatchObject({ name: "audited", scopes: ["orgs:read"] });
    expect(events[1]?.metadata).toMatchObject({ newKeyId: rotated.id });
  });
});
