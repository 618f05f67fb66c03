import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { sweepWebhookInbox } from "../lib/cron/jobs/sweep-webhook-inbox.ts";
import { auditEvents, webhookInbox } from "../lib/db/schema/index.ts";
import { metricsRegistry } from "../lib/metrics/metrics-registry.ts";
import { WEBHOOK_HANDLERS } from "../lib/webhooks/handlers.ts";
import { MAX_ATTEMPTS } from "../lib/webhooks/inbox.ts";
import { WEBHOOK_KINDS, type WebhookKind } from "../lib/webhooks/webhook-secret.ts";
import { BACKEND_HOOK_TIMEOUT_MS, TEST_POSTGRES_URL } from "../test/backends.ts";
import type { TestUser } from "../test/identity-client.ts";
import {
  newDelivery,
  openWebhookTestApp,
  postDelivery,
  secretFor,
  signedHeaders,
  type WebhookTestApp,
} from "../test/webhook-client.ts";

const BACKENDS = TEST_POSTGRES_URL === undefined ? (["pglite"] as const) : (["pglite", "postgres"] as const);
const DAY_MS = 86_400_000;

describe.each(BACKENDS)("inbound webhooks on %s", (backend) => {
  let harness: WebhookTestApp;
  let owner: TestUser;
  let orgId: string;
  beforeAll(async () => {
    harness = await openWebhookTestApp(backend);
    owner = await harness.client.createUser();
    orgId = await harness.client.createOrg(owner);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close());

  const createSource = async (kind: WebhookKind, secret = secretFor(kind)) => {
    const source = await harness.client.expectJson<{ id: string }>(
      await harness.client.call("POST", `/v1/orgs/${orgId}/webhook-sources`, {
        token: owner.token,
        body: { kind, name: `${kind} source`, secret },
      }),
      201,
    );
    return { id: source.id, secret };
  };
  const rowsOf = (sourceId: string) =>
    harness.runtime.db.primary.select().from(webhookInbox).where(eq(webhookInbox.sourceId, sourceId));
  /** Counts a handler's runs; the event type is the test's own, so no other test's deliveries reach it. */
  const countingHandler = (kind: WebhookKind, fail: () => boolean = () => false) => {
    const eventType = `test.${crypto.randomUUID()}`;
    const runs = { count: 0 };
    WEBHOOK_HANDLERS.register(kind, eventType, async () => {
      runs.count += 1;
      if (fail()) throw new Error("the handler crashed mid-way");
    });
    return { eventType, runs };
  };
  // The handler runs after the answer; wait until the row leaves `received`/`processing`.
  const settled = async (sourceId: string) => {
    for (let i = 0; i < 1_000; i++) {
      const rows = await rowsOf(sourceId);
      if (rows.every((row) => row.status !== "received" && row.status !== "processing")) return rows;
      await Bun.sleep(10);
    }
    throw new Error("the delivery was not processed");
  };

  test.each(WEBHOOK_KINDS)(
    "a %s delivery signed by the sender is answered 2xx, stored once and handled",
    async (kind) => {
      const source = await createSource(kind);
      const { eventType, runs } = countingHandler(kind);
      const delivery = newDelivery(eventType);
      const headers = signedHeaders(kind, [source.secret], delivery, harness.clock.now());
      const response = await postDelivery(harness.app, source.id, headers, delivery.body);
      expect(await response.json()).toEqual({ received: true, duplicate: false });
      const [row] = await settled(source.id);
      expect(row).toMatchObject({ externalId: delivery.id, eventType, status: "done", attempts: 1 });
      expect(new TextDecoder().decode(row?.body ?? new Uint8Array())).toBe(delivery.body);
      expect(runs.count).toBe(1);
    },
    30_000,
  );

  test("a tampered body, a wrong secret and an unknown source get the same 401 and leave no row", async () => {
    const source = await createSource("standard");
    const delivery = newDelivery("invoice.paid");
    const headers = signedHeaders("standard", [source.secret], delivery, harness.clock.now());
    const wrong = signedHeaders("standard", [secretFor("standard")], delivery, harness.clock.now());
    const answers = await Promise.all([
      postDelivery(harness.app, source.id, headers, delivery.body.replace("1200", "9900")),
      postDelivery(harness.app, source.id, wrong, delivery.body),
      postDelivery(harness.app, crypto.randomUUID(), headers, delivery.body),
      postDelivery(harness.app, "not-a-uuid", headers, delivery.body),
    ]);
    const bodies = await Promise.all(
      answers.map(async (response) => {
        const { error } = (await response.json()) as { error: { code: string; message: string } };
        return { status: response.status, code: error.code, message: error.message };
      }),
    );
    for (const body of bodies) expect(body).toEqual(bodies[0] as (typeof bodies)[number]);
    expect(bodies[0]?.status).toBe(401);
    expect(await rowsOf(source.id)).toEqual([]);
  });

  test("a refused delivery is counted and leaves one log line under a stable name, without its signature", async () => {
    const source = await createSource("standard");
    const delivery = newDelivery("invoice.paid");
    const wrong = signedHeaders("standard", [secretFor("standard")], delivery, harness.clock.now());
    const before = harness.runtime.logLines.length;
    const refusals = metricsRegistry().series("webhook_inbound", { outcome: "refused" });
    const counted = refusals.values[0] ?? 0;
    expect((await postDelivery(harness.app, source.id, wrong, delivery.body)).status).toBe(401);
    const refused = harness.runtime.logLines
      .slice(before)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === "webhook delivery refused");
    expect(refused.map((line) => line.sourceId)).toEqual([source.id]);
    expect(refusals.values[0]).toBe(counted + 1);
    expect(JSON.stringify(refused)).not.toContain(wrong["webhook-signature"]?.slice(3) ?? "");
  });

  test("a disabled source refuses what it accepted before", async () => {
    const source = await createSource("github");
    const delivery = newDelivery("push");
    const headers = signedHeaders("github", [source.secret], delivery, harness.clock.now());
    await harness.client.expectJson(
      await harness.client.call("DELETE", `/v1/orgs/${orgId}/webhook-sources/${source.id}`, { token: owner.token }),
      204,
    );
    expect((await postDelivery(harness.app, source.id, headers, delivery.body)).status).toBe(401);
  });

  test("a duplicate is answered 2xx, stored once, and its handler runs once", async () => {
    const source = await createSource("stripe");
    const { eventType, runs } = countingHandler("stripe");
    const delivery = newDelivery(eventType);
    const headers = signedHeaders("stripe", [source.secret], delivery, harness.clock.now());
    expect((await postDelivery(harness.app, source.id, headers, delivery.body)).status).toBe(200);
    await settled(source.id);
    const again = await postDelivery(harness.app, source.id, headers, delivery.body);
    expect(await again.json()).toEqual({ received: true, duplicate: true });
    expect((await settled(source.id)).length).toBe(1);
    expect(runs.count).toBe(1);
  });

  test("50 concurrent posts of one delivery: all 2xx, one row, one handler run", async () => {
    const source = await createSource("svix");
    const { eventType, runs } = countingHandler("svix");
    const delivery = newDelivery(eventType);
    const headers = signedHeaders("svix", [source.secret], delivery, harness.clock.now());
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => postDelivery(harness.app, source.id, headers, delivery.body)),
    );
    expect(answers.map((response) => response.status)).toEqual(Array(50).fill(200));
    expect((await settled(source.id)).length).toBe(1);
    // The sweeper finds nothing left to run.
    await sweepWebhookInbox.run(harness.runtime, AbortSignal.timeout(20_000));
    expect(runs.count).toBe(1);
  }, 60_000);

  test("a crashing handler is retried when due, dead after the last attempt, and a replay runs it once", async () => {
    const source = await createSource("standard");
    let crashing = true;
    const { eventType, runs } = countingHandler("standard", () => crashing);
    const delivery = newDelivery(eventType);
    const headers = signedHeaders("standard", [source.secret], delivery, harness.clock.now());
    expect((await postDelivery(harness.app, source.id, headers, delivery.body)).status).toBe(200);
    const [failed] = await settled(source.id);
    expect(failed).toMatchObject({ status: "failed", attempts: 1, lastError: "the handler crashed mid-way" });
    const delayMs = (failed?.nextAttemptAt.getTime() ?? 0) - harness.clock.now();
    expect(delayMs).toBeGreaterThanOrEqual(24_000 - 1_000);
    expect(delayMs).toBeLessThanOrEqual(36_000);
    try {
      // Not due yet: the sweeper leaves it alone.
      await sweepWebhookInbox.run(harness.runtime, AbortSignal.timeout(20_000));
      expect(runs.count).toBe(1);
      for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) {
        harness.clock.advance(2 * DAY_MS);
        await sweepWebhookInbox.run(harness.runtime, AbortSignal.timeout(20_000));
        expect(runs.count).toBe(attempt);
      }
      const [dead] = await rowsOf(source.id);
      expect(dead).toMatchObject({ status: "dead", attempts: MAX_ATTEMPTS });
      harness.clock.advance(2 * DAY_MS);
      await sweepWebhookInbox.run(harness.runtime, AbortSignal.timeout(20_000));
      expect(runs.count).toBe(MAX_ATTEMPTS);

      const listed = await harness.client.expectJson<{ deliveries: { id: number; status: string }[] }>(
        await harness.client.call("GET", `/v1/orgs/${orgId}/webhooks/deliveries?status=dead`, {
          token: owner.token,
        }),
        200,
      );
      expect(listed.deliveries.map((row) => row.id)).toContain(dead?.id as number);
      crashing = false;
      const replay = `/v1/orgs/${orgId}/webhooks/deliveries/${dead?.id}/replay`;
      await harness.client.expectJson(await harness.client.call("POST", replay, { token: owner.token }), 202);
      expect((await settled(source.id))[0]?.status).toBe("done");
      await sweepWebhookInbox.run(harness.runtime, AbortSignal.timeout(20_000));
      expect(runs.count).toBe(MAX_ATTEMPTS + 1);
      // Only a dead delivery can be replayed.
      await harness.client.expectJson(await harness.client.call("POST", replay, { token: owner.token }), 409);
      const audit = await harness.runtime.db.primary
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "webhook_delivery.replayed"), eq(auditEvents.targetId, String(dead?.id))));
      expect(audit.length).toBe(1);
    } finally {
      harness.clock.reset();
    }
  }, 60_000);

  test("a claim that outlived its deadline is released and the delivery runs again", async () => {
    const source = await createSource("standard");
    const { eventType, runs } = countingHandler("standard");
    const delivery = newDelivery(eventType);
    const headers = signedHeaders("standard", [source.secret], delivery, harness.clock.now());
    expect((await postDelivery(harness.app, source.id, headers, delivery.body)).status).toBe(200);
    const [row] = await settled(source.id);
    // As a worker that crashed after claiming would leave it.
    await harness.runtime.db.primary
      .update(webhookInbox)
      .set({ status: "processing", claimedUntil: new Date(harness.clock.now() - 1) })
      .where(eq(webhookInbox.id, row?.id as number));
    await sweepWebhookInbox.run(harness.runtime, AbortSignal.timeout(20_000));
    expect((await rowsOf(source.id))[0]).toMatchObject({ status: "done", claimedUntil: null });
    expect(runs.count).toBe(2);
  });
});
