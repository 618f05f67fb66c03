import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, STORE_BACKENDS, type TestRuntime } from "../../test/backends.ts";
import { withCountedQueries } from "../../test/counting-db.ts";
import { apiKeys, organizations, users } from "../db/schema/index.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { API_KEY_DEAD_AT_PREFIX, type ApiKeyVerifierOptions, createApiKeyVerifier } from "./api-key-verifier.ts";
import { createApiKey, type IssuedApiKey, revokeApiKey, rotateApiKey } from "./api-keys.ts";

/** A clock that moves only when told: cache ages are then exact, whatever the machine's load. */
function manualClock() {
  let at = Date.now();
  return { now: () => at, advance: (ms: number) => void (at += ms), set: (ms: number) => void (at = ms) };
}

describe.each(STORE_BACKENDS)("API key verifier with the %s store", (store) => {
  let runtime: TestRuntime;
  let orgId: string;
  let actor: { type: "user"; id: string };
  beforeAll(async () => {
    runtime = await openTestRuntime({ store });
    const db = runtime.db.primary;
    const [user] = await db
      .insert(users)
      .values({ email: `${crypto.randomUUID()}@example.com`, passwordHash: "unused" })
      .returning({ id: users.id });
    const [org] = await db.insert(organizations).values({ name: "Verifier" }).returning({ id: organizations.id });
    if (user === undefined || org === undefined) throw new Error("setup rows missing");
    orgId = org.id;
    actor = { type: "user", id: user.id };
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  const issue = (): Promise<IssuedApiKey> =>
    createApiKey(runtime, actor, orgId, { name: "verifier", scopes: ["orgs:read"] });
  /** Another instance: the same database and store, a cache of its own. */
  const otherInstance = (target: Runtime = runtime, options: Partial<ApiKeyVerifierOptions> = {}) =>
    createApiKeyVerifier({ db: target.db.primary, store: target.store, logger: target.logger, prefix: "rk" }, options);

  test("a key revoked on one instance stops there at once and on another within revocationCheckMs", async () => {
    const key = await issue();
    const here = runtime.services.identity.apiKeys;
    const clock = manualClock();
    const there = otherInstance(runtime, { revocationCheckMs: 100, now: clock.now });
    expect(await here.verify(key.key)).toMatchObject({ keyId: key.id });
    expect(await there.verify(key.key)).toMatchObject({ keyId: key.id });
    await revokeApiKey(runtime, actor, orgId, key.id);
    expect(await here.verify(key.key)).toBeUndefined();
    clock.advance(99);
    expect(await there.verify(key.key)).toMatchObject({ keyId: key.id });
    clock.advance(1);
    expect(await there.verify(key.key)).toBeUndefined();
    const ttl = await runtime.store.ttl(`${API_KEY_DEAD_AT_PREFIX}${key.id}`);
    expect(ttl).toBeGreaterThan(0);
  });

  test(
    "a rotation's grace end reaches other instances: the old key works " + "until then, not until the cache expires",
    async () => {
      const key = await issue();
      const clock = manualClock();
      const there = otherInstance(runtime, { revocationCheckMs: 50, now: clock.now });
      expect(await there.verify(key.key)).toBeDefined();
      const rotated = await rotateApiKey(runtime, actor, key.id, 1);
      clock.advance(100);
      expect(await there.verify(key.key)).toBeDefined();
      expect(await there.verify(rotated.key)).toMatchObject({ keyId: rotated.id, scopes: ["orgs:read"] });
      clock.set(Date.parse(rotated.replaces.graceEndsAt) + 1);
      expect(await there.verify(key.key)).toBeUndefined();
      expect(await there.verify(rotated.key)).toBeDefined();
    },
  );

  test("should the store lose the marker, a revoked key still dies when the cached row does (cacheTtlMs)", async () => {
    const key = await issue();
    const clock = manualClock();
    const there = otherInstance(runtime, { cacheTtlMs: 150, revocationCheckMs: 10, now: clock.now });
    expect(await there.verify(key.key)).toBeDefined();
    await runtime.db.primary.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, key.id));
    clock.advance(149);
    expect(await there.verify(key.key)).toBeDefined();
    clock.advance(1);
    expect(await there.verify(key.key)).toBeUndefined();
  });

  test("an unknown key is remembered for unknownTtlMs: repeating it costs no query", async () => {
    const counted = withCountedQueries(runtime);
    const clock = manualClock();
    const there = otherInstance(counted.runtime, { unknownTtlMs: 100, now: clock.now });
    const unknown = there.format.generate().key;
    for (let i = 0; i < 5; i++) expect(await there.verify(unknown)).toBeUndefined();
    expect(counted.queries()).toBe(1);
    clock.advance(99);
    expect(await there.verify(unknown)).toBeUndefined();
    expect(counted.queries()).toBe(1);
    clock.advance(1);
    expect(await there.verify(unknown)).toBeUndefined();
    expect(counted.queries()).toBe(2);
  });

  test("last use is written at most once per key per flush interval, and never moves back", async () => {
    const key = await issue();
    const counted = withCountedQueries(runtime);
    const clock = manualClock();
    const there = otherInstance(counted.runtime, { usage: { flushIntervalMs: 100 }, now: clock.now });
    const lastUsedAt = async () =>
      (await runtime.db.primary.select({ at: apiKeys.lastUsedAt }).from(apiKeys).where(eq(apiKeys.id, key.id)))[0]?.at;

    for (let i = 0; i < 10; i++) await there.verify(key.key);
    await there.settled();
    expect(counted.queries()).toBe(2);
    const first = await lastUsedAt();
    expect(first).toBeInstanceOf(Date);

    clock.advance(99);
    await there.verify(key.key);
    await there.settled();
    expect(counted.queries()).toBe(2);
    clock.advance(1);
    await there.verify(key.key);
    await there.settled();
    expect(counted.queries()).toBe(3);
    const second = await lastUsedAt();
    expect((second?.getTime() ?? 0) - (first?.getTime() ?? 0)).toBe(100);

    // A slower instance writing an older time does not move it back.
    const lagging = otherInstance();
    await runtime.db.primary
      .update(apiKeys)
      .set({ lastUsedAt: new Date(Date.now() + 60_000) })
      .where(eq(apiKeys.id, key.id));
    const future = await lastUsedAt();
    await lagging.verify(key.key);
    await lagging.settled();
    expect(await lastUsedAt()).toEqual(future);
  });
});
