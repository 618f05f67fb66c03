/**
 * Every admin and security change is atomic with its audit row: with the audit insert refused by the
 * database itself (a trigger that raises), each change answers 5xx and is in force nowhere: not on this
 * instance, not on another sharing the store, not in the database.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { isOperator } from "../lib/auth/operators.ts";
import { auditEvents, organizations, sessions, signingKeys, users } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { openRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import { UpstashStore } from "../lib/store/upstash-store.ts";
import {
  GATEWAY_TOKEN,
  openTestRuntime,
  STORE_BACKENDS,
  TEST_REDIS_URL,
  type TestRuntime,
  upstashGatewayUrl,
} from "../test/backends.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { ADMIN_TOKEN, type ErrorBody, type IdentityClient, identityClient } from "../test/identity-client.ts";
import { startTcpRelay } from "../test/tcp-relay.ts";
import admin from "./admin.ts";
import auth from "./auth.ts";
import orgs from "./orgs.ts";
import signingKeyRoutes from "./signing-keys.ts";

// Opening PGlite and migrating it takes a few seconds on a loaded machine.
const OPEN_TIMEOUT_MS = 30_000;
const TEST_TIMEOUT_MS = 20_000;

const octet = () => Math.floor(Math.random() * 256);
const freshIpv4 = () => `198.${18 + Math.floor(Math.random() * 2)}.${octet()}.${octet()}`;

describe.each(STORE_BACKENDS)("audited changes on %s", (backend) => {
  let runtime: TestRuntime;
  let app: RampartApp;
  let client: IdentityClient;
  // A second instance: its own memory and poll, the same store and database.
  let peer: Runtime;

  beforeAll(async () => {
    runtime = await openTestRuntime({ store: backend, env: { TRUST_PROXY: "1", ADMIN_TOKEN } });
    app = buildApp(runtime, [admin, auth, orgs, signingKeyRoutes]);
    client = identityClient(runtime, app);
    peer = await openRuntime(runtime.config, { logger: runtime.logger, db: runtime.db, store: runtime.store });
    await runtime.settings.update({ emergency: { enabled: false }, blocking: { threshold: 50 } }, "test");
  }, OPEN_TIMEOUT_MS);
  afterEach(() => allowAudit());
  afterAll(() => runtime.close());

  const db = () => runtime.db.primary;
  const refuseAudit = async () => {
    await db().execute(
      sql`create or replace function test_refuse_audit() returns trigger as $$
        begin raise exception 'audit refused by the test'; end; $$ language plpgsql`,
    );
    await db().execute(
      sql`create trigger test_refuse_audit before insert on audit_events
        for each row execute function test_refuse_audit()`,
    );
  };
  const allowAudit = () => db().execute(sql`drop trigger if exists test_refuse_audit on audit_events`);
  const auditCount = async () => (await db().select({ id: auditEvents.id }).from(auditEvents)).length;
  const admin5xx = async (response: Response) => {
    const { error } = (await response.json()) as ErrorBody;
    expect({ status: response.status >= 500, code: error.code }).toEqual({ status: true, code: expect.any(String) });
  };
  const asAdmin = (method: string, path: string, body?: unknown) =>
    client.call(method, path, { token: ADMIN_TOKEN, body });
  /** What an instance that polls now, and one that starts now, hold. */
  const elsewhere = async () => {
    await peer.settings.poll();
    const newcomer = await openRuntime(runtime.config, {
      logger: runtime.logger,
      db: runtime.db,
      store: runtime.store,
    });
    await newcomer.settings.poll();
    return [peer.settings.current(), newcomer.settings.current()];
  };

  test(
    "a settings change or emergency mode whose audit row fails answers 5xx and applies nowhere",
    async () => {
      await peer.settings.poll();
      const before = runtime.settings.current();
      const rows = await auditCount();
      await refuseAudit();
      await admin5xx(
        await asAdmin("PATCH", "/admin/settings", {
          blocking: { threshold: 1_000 },
          rateLimitOverrides: { "/v1/auth": [] },
        }),
      );
      await admin5xx(await asAdmin("POST", "/admin/emergency", { enabled: true }));
      expect(runtime.settings.current()).toEqual(before);
      expect(await elsewhere()).toEqual([before, before]);

      await allowAudit();
      expect(await auditCount()).toBe(rows);
      expect((await asAdmin("POST", "/admin/emergency", { enabled: true })).status).toBe(200);
      expect(runtime.settings.current().emergency.enabled).toBe(true);
      expect(await auditCount()).toBe(rows + 1);
      expect((await asAdmin("POST", "/admin/emergency", { enabled: false })).status).toBe(200);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "an IP block added or lifted without its audit row answers 5xx and is not in force here or elsewhere",
    async () => {
      const blocker = runtime.services.ipBlocker;
      const peerBlocker = peer.services.ipBlocker;
      const added = freshIpv4();
      await refuseAudit();
      await admin5xx(await asAdmin("POST", "/admin/ip-blocks", { target: added, reason: "refused audit" }));
      expect(blocker.isBlocked(added)).toBe(false);
      await peerBlocker.refresh();
      expect(peerBlocker.isBlocked(added)).toBe(false);
      expect((await blocker.list()).map((block) => block.target)).not.toContain(added);

      await allowAudit();
      const kept = freshIpv4();
      expect((await asAdmin("POST", "/admin/ip-blocks", { target: kept, ttlSeconds: 600 })).status).toBe(201);
      await refuseAudit();
      await admin5xx(await asAdmin("DELETE", `/admin/ip-blocks/${kept}`));
      expect(blocker.isBlocked(kept)).toBe(true);
      await peerBlocker.refresh();
      expect(peerBlocker.isBlocked(kept)).toBe(true);
      await allowAudit();
      expect((await asAdmin("DELETE", `/admin/ip-blocks/${kept}`)).status).toBe(200);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "granting the operator role, disabling a user and rotating the signing keys without their audit rows " +
      "change nothing",
    async () => {
      const user = await client.createUser();
      const [session] = await db().select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, user.userId));
      const keysBefore = await db()
        .select({ kid: signingKeys.kid, state: signingKeys.state })
        .from(signingKeys)
        .orderBy(signingKeys.kid);
      await refuseAudit();
      await admin5xx(await asAdmin("PUT", `/admin/operators/${user.userId}`));
      await admin5xx(await asAdmin("POST", `/admin/users/${user.userId}/disable`));
      await admin5xx(await asAdmin("POST", "/admin/signing-keys/rotate"));
      await allowAudit();

      expect(await isOperator(db(), user.userId)).toBe(false);
      const [row] = await db().select({ disabled: users.disabled }).from(users).where(eq(users.id, user.userId));
      expect(row?.disabled).toBe(false);
      const [still] = await db()
        .select({ revokedAt: sessions.revokedAt })
        .from(sessions)
        .where(eq(sessions.id, session?.id ?? ""));
      expect(still?.revokedAt).toBeNull();
      // The user's access token still works: no revocation reached the store.
      expect((await client.call("GET", "/v1/auth/sessions", { token: user.token })).status).toBe(200);
      expect(
        await db()
          .select({ kid: signingKeys.kid, state: signingKeys.state })
          .from(signingKeys)
          .orderBy(signingKeys.kid),
      ).toEqual(keysBefore);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "renaming an organization or revoking one's own session without the audit row changes nothing",
    async () => {
      const owner = await client.createUser();
      const orgId = await client.createOrg(owner, "Before");
      const [session] = await db().select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, owner.userId));
      await refuseAudit();
      await admin5xx(await client.call("PATCH", `/v1/orgs/${orgId}`, { token: owner.token, body: { name: "After" } }));
      await admin5xx(await client.call("DELETE", `/v1/auth/sessions/${session?.id}`, { token: owner.token }));
      await allowAudit();

      const [org] = await db()
        .select({ name: organizations.name })
        .from(organizations)
        .where(eq(organizations.id, orgId));
      expect(org?.name).toBe("Before");
      const [still] = await db()
        .select({ revokedAt: sessions.revokedAt })
        .from(sessions)
        .where(eq(sessions.id, session?.id ?? ""));
      expect(still?.revokedAt).toBeNull();
      expect((await client.call("GET", "/v1/auth/sessions", { token: owner.token })).status).toBe(200);
    },
    TEST_TIMEOUT_MS,
  );
});

describeWithServers(["redis"], "a store write failing after its audit row", () => {
  test(
    "answers 5xx, applies nothing, and an admin.change_failed row names the committed one",
    async () => {
      const redis = new URL(TEST_REDIS_URL ?? "");
      const relay = startTcpRelay({ hostname: redis.hostname, port: Number(redis.port) });
      const runtime = await openTestRuntime({ env: { TRUST_PROXY: "1", ADMIN_TOKEN } });
      try {
        // No in-process fallback: the store's failure reaches the change, as a dead Redis would without one.
        const store = new UpstashStore({
          url: await upstashGatewayUrl(`redis://127.0.0.1:${relay.port}`),
          token: GATEWAY_TOKEN,
          timeoutMs: 1_000,
        });
        const instance = await openRuntime(runtime.config, { logger: runtime.logger, db: runtime.db, store });
        const client = identityClient(runtime, buildApp(instance, [admin]));
        const before = instance.settings.current();
        relay.kill();
        const response = await client.call("PATCH", "/admin/settings", {
          token: ADMIN_TOKEN,
          body: { blocking: { threshold: 999 } },
        });
        expect(response.status).toBeGreaterThanOrEqual(500);
        expect(instance.settings.current()).toEqual(before);
        const rows = await runtime.db.primary.select().from(auditEvents).orderBy(auditEvents.id);
        const changed = rows.find((row) => row.action === "admin.settings.changed");
        expect(rows.map((row) => row.action)).toEqual(["admin.settings.changed", "admin.change_failed"]);
        expect(rows[1]?.metadata).toMatchObject({ auditEventId: changed?.id, action: "admin.settings.changed" });
      } finally {
        relay.close();
        await runtime.close();
      }
    },
    OPEN_TIMEOUT_MS,
  );
});
