import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { inArray } from "drizzle-orm";
import { webhookMessages } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { createOutboundDeliverer, type OutboundDeliveryOptions } from "../lib/webhooks/outbound-delivery.ts";
import { authClient, FAST_HASHING } from "../test/auth-client.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { ADMIN_TOKEN, type IdentityClient, identityClient, type TestUser } from "../test/identity-client.ts";
import { createAuthRoutes } from "./auth.ts";
import { orgRoutes } from "./orgs.ts";
import { webhookEndpointRoutes } from "./webhook-endpoints.ts";

const TEST_TIMEOUT_MS = 30_000;
const SESSION_EVENTS = ["refresh_token.reuse_detected", "session.revoked"];

interface Received {
  path: string;
  type: string;
  data: { userId: string; sessionId?: string; sessionIds?: string[]; reason?: string };
}

describe.each(DATABASE_BACKENDS)("session webhooks on %s", (backend) => {
  let runtime: TestRuntime;
  let app: RampartApp;
  let client: IdentityClient;
  let auth: ReturnType<typeof authClient>;
  let receiver: ReturnType<typeof Bun.serve>;
  let received: Received[] = [];
  const devOptions: Partial<OutboundDeliveryOptions> = {
    url: { allowHttp: true, allowLoopback: true, resolve: async () => ["93.184.215.14"] },
    random: () => 0.5,
  };

  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend, env: { TRUST_PROXY: "1", ADMIN_TOKEN } });
    app = buildApp(runtime, [
      createAuthRoutes({ passwordHashing: FAST_HASHING, outbound: devOptions }),
      orgRoutes(devOptions),
      webhookEndpointRoutes(devOptions),
    ]);
    client = identityClient(runtime, app);
    auth = authClient(app);
    receiver = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        const { type, data } = (await request.json()) as Omit<Received, "path">;
        received.push({ path: new URL(request.url).pathname, type, data });
        return new Response("ok");
      },
    });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await receiver.stop(true);
    await runtime.close();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterEach(() => {
    received = [];
  });

  /** A member of two organizations, each run by another admin with an endpoint for the session events. */
  async function memberOfTwoOrgs() {
    const member = await auth.signUp();
    const orgIds: string[] = [];
    for (const path of ["/a", "/b"]) {
      const admin: TestUser = await client.createUser();
      const orgId = await client.createOrg(admin);
      await client.expectJson(
        await client.call("POST", `/v1/orgs/${orgId}/webhook-endpoints`, {
          token: admin.token,
          body: { url: `http://127.0.0.1:${receiver.port}${path}`, eventTypes: SESSION_EVENTS },
        }),
        201,
      );
      await client.addMember(admin, orgId, { userId: member.user.id, email: member.user.email, token: "" }, "member");
      orgIds.push(orgId);
    }
    return { member, orgIds };
  }

  /** Waits (without a fixed sleep) for `count` deliveries sent in the background. */
  async function receivedAtLeast(count: number) {
    for (let round = 0; round < 1000 && received.length < count; round++) await Bun.sleep(10);
    return received.map(({ path, type }) => `${path} ${type}`).sort();
  }

  test(
    "a reused refresh token is sent to each of the user's organizations, with the session it revoked",
    async () => {
      const { member } = await memberOfTwoOrgs();
      await auth.refreshed(member.refreshToken);
      expect((await auth.refresh(member.refreshToken)).status).toBe(401);
      expect(await receivedAtLeast(4)).toEqual([
        "/a refresh_token.reuse_detected",
        "/a session.revoked",
        "/b refresh_token.reuse_detected",
        "/b session.revoked",
      ]);
      const revoked = received.find((delivery) => delivery.type === "session.revoked");
      expect(revoked?.data).toMatchObject({ userId: member.user.id, reason: "token_reused" });
      const reuse = received.find((delivery) => delivery.type === "refresh_token.reuse_detected");
      expect(reuse?.data.sessionId).toBe(revoked?.data.sessionIds?.[0] ?? "");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a session revoked by its user is sent to each of the user's organizations",
    async () => {
      const { member } = await memberOfTwoOrgs();
      const other = await auth.logIn(member.user.email);
      const sessions = await client.expectJson<{ sessions: { id: string; current: boolean }[] }>(
        await auth.call("GET", "/v1/auth/sessions", { token: member.accessToken }),
        200,
      );
      const target = sessions.sessions.find((session) => !session.current)?.id ?? "";
      const response = await auth.call("DELETE", `/v1/auth/sessions/${target}`, { token: member.accessToken });
      expect(response.status).toBe(204);
      expect(await receivedAtLeast(2)).toEqual(["/a session.revoked", "/b session.revoked"]);
      expect(received[0]?.data).toEqual({ userId: other.user.id, sessionIds: [target], reason: "revoked" });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a revocation that rolled back leaves no message to send",
    async () => {
      const { member, orgIds } = await memberOfTwoOrgs();
      const messagesOfOrgs = () =>
        runtime.db.primary.select().from(webhookMessages).where(inArray(webhookMessages.orgId, orgIds));
      const before = (await messagesOfOrgs()).length;
      await runtime.db.primary.execute(
        "create or replace function refuse_audit() returns trigger language plpgsql as " +
          "$$ begin raise exception 'audit down'; end $$",
      );
      await runtime.db.primary.execute(
        "create trigger refuse_audit before insert on audit_events for each row execute function refuse_audit()",
      );
      try {
        const failed = await auth.call("POST", "/v1/auth/logout", { body: { refreshToken: member.refreshToken } });
        expect(failed.status).toBeGreaterThanOrEqual(500);
      } finally {
        await runtime.db.primary.execute("drop trigger refuse_audit on audit_events");
      }
      expect((await messagesOfOrgs()).length).toBe(before);
      await createOutboundDeliverer(runtime, devOptions).deliverDue();
      expect(received.filter((delivery) => SESSION_EVENTS.includes(delivery.type))).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );
});
