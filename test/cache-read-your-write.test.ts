/**
 * Read-your-write across instances: two apps over one database and one Redis, each with its own in-process
 * layer and clock. After a write is acknowledged on A, B serves the new answer once its in-process layer's
 * second has passed (its clock is moved, not slept on), and another org's entry stays cached.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import admin from "../functions/admin.ts";
import audit from "../functions/audit.ts";
import keys from "../functions/keys.ts";
import orgs from "../functions/orgs.ts";
import { DEFAULT_RESPONSE_CACHE_OPTIONS } from "../lib/cache/response-cache.ts";
import { replayCachePurges } from "../lib/cron/jobs/replay-cache-purges.ts";
import { pendingCachePurges } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { createLogger } from "../lib/log/logger.ts";
import { createBreaker } from "../lib/resilience/breaker.ts";
import { deriveRuntime } from "../lib/runtime/runtime.ts";
import { FallbackStore } from "../lib/store/fallback-store.ts";
import { UpstashStore } from "../lib/store/upstash-store.ts";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  DATABASE_BACKENDS,
  GATEWAY_TOKEN,
  openTestStore,
  TEST_REDIS_URL,
  upstashGatewayUrl,
} from "./backends.ts";
import { ADMIN_TOKEN, type IdentityTestApp, openIdentityTestApp, type TestUser } from "./identity-client.ts";
import { startTcpRelay, type TcpRelay } from "./tcp-relay.ts";
import { createTestClock } from "./test-clock.ts";

const TIMEOUT_MS = 60_000;
// A real database shared by two instances: PostgreSQL when the suite has one.
const DATABASE = DATABASE_BACKENDS.includes("postgres") ? "postgres" : "pglite";

interface Read {
  status: number;
  cache: string | null;
  body: unknown;
}

/** Each write, the read it must change, and what that read shows once the write landed. */
const CASES: {
  name: string;
  path: (orgId: string) => string;
  write: (rig: IdentityTestApp, owner: TestUser, orgId: string) => Promise<unknown>;
  changed: (body: unknown) => boolean;
}[] = [
  {
    name: "an org renamed: the org's record",
    path: (orgId) => `/v1/orgs/${orgId}`,
    write: (rig, owner, orgId) =>
      rig.client.call("PATCH", `/v1/orgs/${orgId}`, { token: owner.token, body: { name: "Renamed" } }),
    changed: (body) => (body as { name: string }).name === "Renamed",
  },
  {
    name: "a member added: the member list",
    path: (orgId) => `/v1/orgs/${orgId}/members`,
    write: async (rig, owner, orgId) => rig.client.addMember(owner, orgId, await rig.client.createUser(), "member"),
    changed: (body) => (body as { members: unknown[] }).members.length === 2,
  },
  {
    name: "a key created: the key list",
    path: (orgId) => `/v1/orgs/${orgId}/keys`,
    write: (rig, owner, orgId) => rig.client.createKey(owner, orgId),
    changed: (body) => (body as { keys: unknown[] }).keys.length === 1,
  },
  {
    name: "a key created: the audit log",
    path: (orgId) => `/v1/orgs/${orgId}/audit`,
    write: (rig, owner, orgId) => rig.client.createKey(owner, orgId),
    changed: (body) => (body as { events: { action: string }[] }).events[0]?.action === "api_key.created",
  },
];

describe.if(TEST_REDIS_URL !== undefined)(`cached reads after a write, two instances on ${DATABASE}`, () => {
  let rig: IdentityTestApp;
  let appB: RampartApp;
  const clockB = createTestClock();
  // Instance C reaches Redis through a relay the test can cut.
  let appC: RampartApp;
  let relayC: TcpRelay;
  beforeAll(async () => {
    rig = await openIdentityTestApp(DATABASE, "upstash");
    // Instance B: its own store client (so its own view of the tag versions), its own cache and clock.
    const runtimeB = deriveRuntime(rig.runtime, { store: await openTestStore("upstash"), now: clockB.now });
    appB = buildApp(runtimeB, [orgs, keys, audit]);
    const redis = new URL(TEST_REDIS_URL ?? "");
    relayC = startTcpRelay({ hostname: redis.hostname, port: Number(redis.port) });
    const quiet = createLogger({ sink: () => {} });
    const upstash = new UpstashStore({
      url: await upstashGatewayUrl(`redis://127.0.0.1:${relayC.port}`),
      token: GATEWAY_TOKEN,
      timeoutMs: 500,
    });
    const storeC = new FallbackStore(upstash, createBreaker("redis", quiet), quiet);
    appC = buildApp(deriveRuntime(rig.runtime, { store: storeC, logger: quiet }), [orgs, keys, audit, admin]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    relayC.close();
    await rig.runtime.close();
  }, BACKEND_HOOK_TIMEOUT_MS);

  const read = async (app: RampartApp, user: TestUser, path: string): Promise<Read> => {
    const response = await app.fetch(
      new Request(`http://localhost${path}`, {
        headers: { authorization: `Bearer ${user.token}`, "x-forwarded-for": "10.7.7.7" },
      }),
    );
    return { status: response.status, cache: response.headers.get("x-cache"), body: await response.json() };
  };

  test.each(CASES)(
    "$name is new on both instances within 1 s; another org's stays a HIT",
    async (each) => {
      const [owner, other] = [await rig.client.createUser(), await rig.client.createUser()];
      const orgId = await rig.client.createOrg(owner, "Acme");
      const otherOrgId = await rig.client.createOrg(other, "Globex");
      for (const app of [rig.app, appB]) {
        await read(app, owner, each.path(orgId));
        await read(app, other, each.path(otherOrgId));
        expect((await read(app, owner, each.path(orgId))).cache).toBe("HIT");
      }
      await each.write(rig, owner, orgId);
      // The instance that acknowledged the write has seen its purge: at once.
      const onA = await read(rig.app, owner, each.path(orgId));
      expect(onA.status).toBe(200);
      expect(each.changed(onA.body)).toBe(true);
      clockB.advance(DEFAULT_RESPONSE_CACHE_OPTIONS.memoryMs);
      try {
        const onB = await read(appB, owner, each.path(orgId));
        expect(onB.status).toBe(200);
        expect(each.changed(onB.body)).toBe(true);
        expect((await read(appB, other, each.path(otherOrgId))).cache).toBe("HIT");
      } finally {
        clockB.reset();
      }
    },
    TIMEOUT_MS,
  );

  test(
    "a write acknowledged while its instance cannot reach Redis is purged by the replay job",
    async () => {
      const owner = await rig.client.createUser();
      const orgId = await rig.client.createOrg(owner, "Acme");
      const path = `/v1/orgs/${orgId}`;
      await read(appB, owner, path);
      expect(await read(appB, owner, path)).toMatchObject({ cache: "HIT", body: { name: "Acme" } });
      relayC.kill();
      try {
        const renamed = await appC.fetch(
          new Request(`http://localhost${path}`, {
            method: "PATCH",
            headers: { authorization: `Bearer ${owner.token}`, "content-type": "application/json" },
            body: JSON.stringify({ name: "Renamed offline" }),
          }),
        );
        expect(renamed.status).toBe(200);
        // A purge by hand cannot be kept for later the same way: the operator is told it did not happen.
        const byHand = await appC.fetch(
          new Request("http://localhost/admin/cache/purge", {
            method: "POST",
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
            body: JSON.stringify({ paths: [path] }),
          }),
        );
        expect([byHand.status, ((await byHand.json()) as { error: { code: string } }).error.code]).toEqual([
          503,
          "DEPENDENCY_UNAVAILABLE",
        ]);
      } finally {
        relayC.revive();
      }
      // The purge never reached Redis: B still holds the entry cached before the write, until the replay.
      clockB.advance(DEFAULT_RESPONSE_CACHE_OPTIONS.memoryMs);
      try {
        expect((await read(appB, owner, path)).body).toMatchObject({ name: "Acme" });
        expect(await replayCachePurges.run(rig.runtime, AbortSignal.timeout(30_000))).toMatch(/^purged [1-9]\d* /);
        clockB.advance(DEFAULT_RESPONSE_CACHE_OPTIONS.memoryMs);
        expect(await read(appB, owner, path)).toMatchObject({ status: 200, body: { name: "Renamed offline" } });
        const kept = await rig.runtime.db.primary.select().from(pendingCachePurges);
        expect(kept.filter((row) => row.tag.includes(orgId))).toEqual([]);
      } finally {
        clockB.reset();
      }
    },
    TIMEOUT_MS,
  );
});
