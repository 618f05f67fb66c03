import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { and, eq, inArray, or } from "drizzle-orm";
import { auditEvents, webhookAttempts, webhookEndpoints, webhookMessages } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import {
  createOutboundDeliverer,
  DISABLE_AFTER_FAILING_MS,
  MAX_EXCERPT_BYTES,
  type OutboundDeliveryOptions,
  RETRY_SCHEDULE_MS,
  resendMessage,
} from "../lib/webhooks/outbound-delivery.ts";
import { verifyDelivery } from "../lib/webhooks/verify.ts";
import { importHmacKey, signingKeyBytes } from "../lib/webhooks/webhook-secret.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { ADMIN_TOKEN, type IdentityClient, identityClient, type TestUser } from "../test/identity-client.ts";
import { createTestClock } from "../test/test-clock.ts";
import { keyRoutes } from "./keys.ts";
import { orgRoutes } from "./orgs.ts";
import { webhookEndpointRoutes } from "./webhook-endpoints.ts";

const TEST_TIMEOUT_MS = 30_000;

/** A name resolving to loopback, as a DNS rebinding or a hostile record would. */
const testResolver = async (host: string) => (host === "loopback.example" ? ["127.0.0.1"] : ["93.184.215.14"]);

interface Received {
  headers: Headers;
  body: Uint8Array<ArrayBuffer>;
}

describe.each(DATABASE_BACKENDS)("outbound webhooks on %s", (backend) => {
  const clock = createTestClock();
  let runtime: TestRuntime;
  let app: RampartApp;
  let client: IdentityClient;
  let owner: TestUser;
  let orgId: string;
  let receiver: ReturnType<typeof Bun.serve>;
  let received: Received[] = [];
  let answer: (request: Request) => Response = () => new Response("ok");
  const devUrl = { allowHttp: true, allowLoopback: true, resolve: testResolver };
  const devOptions: Partial<OutboundDeliveryOptions> = {
    url: devUrl,
    random: () => 0.5,
  };

  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend, env: { TRUST_PROXY: "1", ADMIN_TOKEN }, now: clock.now });
    app = buildApp(runtime, [orgRoutes(devOptions), keyRoutes(devOptions), webhookEndpointRoutes(devOptions)]);
    client = identityClient(runtime, app);
    owner = await client.createUser();
    receiver = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        received.push({ headers: request.headers, body: new Uint8Array(await request.arrayBuffer()) });
        return answer(request);
      },
    });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await receiver.stop(true);
    await runtime.close();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterEach(() => {
    clock.reset();
    received = [];
    answer = () => new Response("ok");
  });

  const receiverUrl = (path = "/hook") => `http://127.0.0.1:${receiver.port}${path}`;
  const deliverer = () => createOutboundDeliverer(runtime, devOptions);

  async function newOrgWithEndpoint(url = receiverUrl()) {
    owner = await client.createUser();
    orgId = await client.createOrg(owner);
    const response = await client.call("POST", `/v1/orgs/${orgId}/webhook-endpoints`, {
      token: owner.token,
      body: { url, eventTypes: ["api_key.created", "api_key.revoked"] },
    });
    return client.expectJson<{ id: string; secret: string }>(response, 201);
  }

  async function verified(delivery: Received, secrets: readonly string[]) {
    const keyList = await Promise.all(
      secrets.map((secret) => importHmacKey(signingKeyBytes("standard", secret) as Uint8Array<ArrayBuffer>)),
    );
    return verifyDelivery("standard", delivery.headers, delivery.body, keyList, clock.now());
  }

  async function attemptsOf(messageId: string) {
    const response = await client.call("GET", `/v1/orgs/${orgId}/webhook-messages/${messageId}/attempts`, {
      token: owner.token,
    });
    return (
      await client.expectJson<{
        attempts: {
          attempt: number;
          status: string;
          nextAttemptAt: string;
          httpStatus: number | null;
          responseExcerpt: string | null;
        }[];
      }>(response, 200)
    ).attempts;
  }

  /** Waits (without a fixed sleep) until the background send has recorded every due attempt of `orgId`. */
  async function settled(org = orgId) {
    const busy = or(
      eq(webhookAttempts.status, "sending"),
      and(eq(webhookAttempts.status, "pending"), eq(webhookAttempts.attempt, 1)),
    );
    const ofOrg = inArray(
      webhookAttempts.endpointId,
      runtime.db.primary
        .select({ id: webhookEndpoints.id })
        .from(webhookEndpoints)
        .where(eq(webhookEndpoints.orgId, org)),
    );
    for (let round = 0; round < 1000; round++) {
      const left = await runtime.db.primary.select().from(webhookAttempts).where(and(busy, ofOrg));
      if (left.length === 0) return;
      await Bun.sleep(10);
    }
    throw new Error("the background send never finished");
  }

  const messagesOf = (org: string) =>
    runtime.db.primary.select().from(webhookMessages).where(eq(webhookMessages.orgId, org));

  test(
    "a created API key is sent at once, signed for the receiver's verifier, and never again by the job",
    async () => {
      const endpoint = await newOrgWithEndpoint();
      await client.createKey(owner, orgId);
      await settled();
      expect(received).toHaveLength(1);
      const [delivery] = received;
      if (delivery === undefined) throw new Error("nothing received");
      expect(await verified(delivery, [endpoint.secret])).toMatchObject({ ok: true });
      const body = JSON.parse(new TextDecoder().decode(delivery.body));
      expect(body.type).toBe("api_key.created");
      const [message] = await messagesOf(orgId);
      expect(delivery.headers.get("webhook-id")).toBe(message?.id ?? "");
      expect((await attemptsOf(message?.id ?? "")).map((attempt) => attempt.status)).toEqual(["success"]);
      expect((await deliverer().deliverDue()).success).toBe(0);
      expect(received).toHaveLength(1);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "during a rotation's overlap both secrets sign, and either verifies",
    async () => {
      const endpoint = await newOrgWithEndpoint();
      const rotated = await client.expectJson<{ secret: string }>(
        await client.call("POST", `/v1/orgs/${orgId}/webhook-endpoints/${endpoint.id}/rotate`, {
          token: owner.token,
          body: {},
        }),
        201,
      );
      await client.createKey(owner, orgId);
      await settled();
      const [delivery] = received;
      if (delivery === undefined) throw new Error("nothing received");
      expect(delivery.headers.get("webhook-signature")?.split(" ")).toHaveLength(2);
      expect(await verified(delivery, [endpoint.secret])).toMatchObject({ ok: true });
      expect(await verified(delivery, [rotated.secret])).toMatchObject({ ok: true });
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "failed attempts are retried on the schedule, with the same webhook-id, and kept to 1 KiB",
    async () => {
      await newOrgWithEndpoint();
      answer = () => new Response("x".repeat(5000), { status: 500 });
      clock.advance(0);
      const start = clock.now();
      await client.createKey(owner, orgId);
      await settled();
      const [message] = await messagesOf(orgId);
      if (message === undefined) throw new Error("no message");
      let elapsed = 0;
      for (const delay of [0, ...RETRY_SCHEDULE_MS]) {
        clock.advance(delay);
        elapsed += delay;
        expect((await deliverer().deliverDue()).pending).toBe(0);
        const attempts = await attemptsOf(message.id);
        const next = attempts.at(-1);
        if (next?.status === "pending")
          expect(Date.parse(next.nextAttemptAt) - start - elapsed).toBe(
            RETRY_SCHEDULE_MS[attempts.length - 2] ?? Number.NaN,
          );
      }
      const attempts = await attemptsOf(message.id);
      expect(attempts.map((attempt) => attempt.status)).toEqual([...Array(7).fill("failed"), "exhausted"]);
      expect(attempts[0]?.responseExcerpt).toHaveLength(MAX_EXCERPT_BYTES);
      expect(new Set(received.map((delivery) => delivery.headers.get("webhook-id")))).toEqual(new Set([message.id]));
      expect(received).toHaveLength(8);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a 410 disables the endpoint, with an audit row, and stops the retries",
    async () => {
      const endpoint = await newOrgWithEndpoint();
      answer = () => new Response("gone", { status: 410 });
      await client.createKey(owner, orgId);
      await settled();
      const list = await client.expectJson<{ endpoints: { disabledAt: string | null }[] }>(
        await client.call("GET", `/v1/orgs/${orgId}/webhook-endpoints`, { token: owner.token }),
        200,
      );
      expect(list.endpoints[0]?.disabledAt).not.toBeNull();
      const audited = await runtime.db.primary
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "webhook_endpoint.disabled"), eq(auditEvents.targetId, endpoint.id)));
      expect(audited).toHaveLength(1);
      clock.advance(RETRY_SCHEDULE_MS[0] * 2);
      await client.createKey(owner, orgId);
      await settled();
      await deliverer().deliverDue();
      expect(received).toHaveLength(1);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "an endpoint failing continuously for 5 days is disabled, with an audit row",
    async () => {
      const endpoint = await newOrgWithEndpoint();
      answer = () => new Response("down", { status: 500 });
      clock.advance(0);
      await client.createKey(owner, orgId);
      await settled();
      clock.advance(DISABLE_AFTER_FAILING_MS - 1);
      // Days later, creating a key needs a recent sign-in.
      const later = await client.reauthenticated(owner, clock.now());
      await client.createKey(later, orgId);
      await settled();
      const disabledAt = async () =>
        (
          await client.expectJson<{ endpoints: { disabledAt: string | null }[] }>(
            await client.call("GET", `/v1/orgs/${orgId}/webhook-endpoints`, { token: owner.token }),
            200,
          )
        ).endpoints[0]?.disabledAt;
      expect(await disabledAt()).toBeNull();
      clock.advance(1);
      await client.createKey(later, orgId);
      await settled();
      expect(await disabledAt()).toBe(new Date(clock.now()).toISOString());
      const audited = await runtime.db.primary
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "webhook_endpoint.disabled"), eq(auditEvents.targetId, endpoint.id)));
      expect(audited.map((row) => row.actorType)).toEqual(["system"]);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "Retry-After on a 429 delays the next attempt past the schedule",
    async () => {
      await newOrgWithEndpoint();
      answer = () => new Response("slow down", { status: 429, headers: { "retry-after": "120" } });
      clock.advance(0);
      await client.createKey(owner, orgId);
      await settled();
      const [message] = await messagesOf(orgId);
      const attempts = await attemptsOf(message?.id ?? "");
      expect(Date.parse(attempts[1]?.nextAttemptAt ?? "") - clock.now()).toBe(120_000);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a 302 to an internal address is a failure and is not followed",
    async () => {
      await newOrgWithEndpoint(receiverUrl("/redirect"));
      answer = (request) =>
        new URL(request.url).pathname === "/redirect"
          ? new Response(null, { status: 302, headers: { location: "http://169.254.169.254/latest/meta-data" } })
          : new Response("followed");
      await client.createKey(owner, orgId);
      await settled();
      expect(received.map((delivery) => delivery.headers.get("webhook-id") !== null)).toEqual([true]);
      const [message] = await messagesOf(orgId);
      expect((await attemptsOf(message?.id ?? ""))[0]?.httpStatus).toBe(302);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "an API key change that rolled back leaves no message to send",
    async () => {
      await newOrgWithEndpoint();
      const response = await client.call("DELETE", `/v1/orgs/${orgId}/keys/00000000-0000-4000-8000-000000000000`, {
        token: owner.token,
      });
      expect(response.status).toBe(404);
      await runtime.db.primary.execute(
        "create or replace function refuse_audit() returns trigger language plpgsql as " +
          "$$ begin raise exception 'audit down'; end $$",
      );
      await runtime.db.primary.execute(
        "create trigger refuse_audit before insert on audit_events for each row execute function refuse_audit()",
      );
      try {
        const failed = await client.call("POST", `/v1/orgs/${orgId}/keys`, {
          token: owner.token,
          body: { name: "ci", scopes: ["orgs:read"] },
        });
        expect(failed.status).toBeGreaterThanOrEqual(500);
      } finally {
        await runtime.db.primary.execute("drop trigger refuse_audit on audit_events");
      }
      expect(await messagesOf(orgId)).toHaveLength(0);
      await deliverer().deliverDue();
      expect(received).toHaveLength(0);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a resend sends the message again with the same webhook-id",
    async () => {
      await newOrgWithEndpoint();
      await client.createKey(owner, orgId);
      await settled();
      const [message] = await messagesOf(orgId);
      const response = await client.call("POST", `/v1/orgs/${orgId}/webhook-messages/${message?.id}/resend`, {
        token: owner.token,
      });
      expect(await client.expectJson(response, 202)).toEqual({ scheduled: 1 });
      // The route sends it in the background; wait for that send (or make it here) without a fixed sleep.
      for (let round = 0; round < 500 && received.length < 2; round++) {
        await deliverer().deliverDue();
        await Bun.sleep(10);
      }
      const id = message?.id ?? "";
      expect(received.map((delivery) => delivery.headers.get("webhook-id"))).toEqual([id, id]);
    },
    TEST_TIMEOUT_MS,
  );

  describe("registration refuses URLs that are not public", () => {
    let strict: RampartApp;
    beforeAll(() => {
      strict = buildApp(runtime, [
        orgRoutes(devOptions),
        webhookEndpointRoutes({ url: { ...devUrl, allowLoopback: false, allowHttp: true } }),
      ]);
    });
    for (const url of [
      "http://127.0.0.1/hook",
      "http://[::ffff:7f00:1]/hook",
      "http://169.254.169.254/latest",
      "http://10.0.0.1/",
      "http://loopback.example/hook",
    ])
      test(`${url} is refused with 422 and the reason`, async () => {
        owner = await client.createUser();
        orgId = await client.createOrg(owner);
        const response = await strict.fetch(
          new Request(`http://localhost/v1/orgs/${orgId}/webhook-endpoints`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${owner.token}`,
              "content-type": "application/json",
              "x-forwarded-for": "192.0.2.10",
            },
            body: JSON.stringify({ url, eventTypes: ["api_key.created"] }),
          }),
        );
        const body = await client.expectJson<{ error: { details: { fields: { path: string; message: string }[] } } }>(
          response,
          422,
        );
        expect(body.error.details.fields[0]?.path).toBe("url");
        expect(body.error.details.fields[0]?.message).toContain("not a public address");
      });
  });

  test(
    "by default plain http: is refused",
    async () => {
      owner = await client.createUser();
      orgId = await client.createOrg(owner);
      const defaults = buildApp(runtime, [webhookEndpointRoutes()]);
      const response = await defaults.fetch(
        new Request(`http://localhost/v1/orgs/${orgId}/webhook-endpoints`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${owner.token}`,
            "content-type": "application/json",
            "x-forwarded-for": "192.0.2.11",
          },
          body: JSON.stringify({ url: receiverUrl(), eventTypes: ["api_key.created"] }),
        }),
      );
      expect(response.status).toBe(422);
      expect(await response.text()).toContain("the URL must be https:");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "an SSRF check before the attempt refuses an endpoint whose name now resolves to loopback",
    async () => {
      await newOrgWithEndpoint();
      await client.createKey(owner, orgId);
      await settled();
      const [message] = await messagesOf(orgId);
      received = [];
      await resendMessage(runtime.db.primary, orgId, message?.id ?? "", clock.now());
      const strict = createOutboundDeliverer(runtime, {
        ...devOptions,
        url: { ...devUrl, allowLoopback: false },
      });
      expect((await strict.deliverDue()).exhausted).toBe(1);
      expect(received).toHaveLength(0);
      const [, resent] = await runtime.db.primary
        .select()
        .from(webhookAttempts)
        .where(eq(webhookAttempts.messageId, message?.id ?? ""))
        .orderBy(webhookAttempts.attempt);
      expect(resent?.responseExcerpt).toContain("refused: the host resolves to 127.0.0.1");
    },
    TEST_TIMEOUT_MS,
  );
});
