import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { loadConfig } from "../lib/config/config.ts";
import { createEvaluateSlosJob } from "../lib/cron/jobs/evaluate-slos.ts";
import { reencryptSecrets } from "../lib/cron/jobs/reencrypt-secrets.ts";
import { runScheduledJob } from "../lib/cron/scheduled-job.ts";
import { createEncryptor, DecryptError } from "../lib/crypto/envelope-encryption.ts";
import { auditEvents, sloAlertChannels, sloAlertNotifications } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { LATENCY_BUCKET_COUNT } from "../lib/metrics/latency-buckets.ts";
import type { RouteMinute } from "../lib/metrics/route-minute.ts";
import { deriveRuntime } from "../lib/runtime/runtime.ts";
import { type AlertChannelView, alertChannelRowIdentity, openAlertChannel } from "../lib/slo/alert-channels.ts";
import { defineSlo } from "../lib/slo/slo-declaration.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { ADMIN_TOKEN, type ErrorBody, type IdentityClient, identityClient } from "../test/identity-client.ts";
import slo from "./slo.ts";

const TEST_TIMEOUT_MS = 120_000;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const PER_MINUTE = 2_000;
const V1 = `v1:${Buffer.alloc(32, 1).toString("base64")}`;
const V2 = `v2:${Buffer.alloc(32, 2).toString("base64")}`;
const ENV = { TRUST_PROXY: "1", ADMIN_TOKEN, ENCRYPTION_KEYS: V1, WEBHOOK_LOCAL_ENDPOINTS: "true" };
// The distinctive parts of each secret: none may appear in an answer, a log line or an audit row.
const SLACK_TOKEN = "XoXbStoredSlackToken0123456789";
const ROUTING_KEY = "St0redR0utingKey0000000000000000";
const WEBHOOK_SECRET = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;

/** One minute of traffic on the SLO's route: `errors` 5xx answers among PER_MINUTE. */
function minuteOf(start: number, errors: number): RouteMinute[] {
  const row = (statusClass: 2 | 5, count: number): RouteMinute => {
    const buckets = new Array(LATENCY_BUCKET_COUNT).fill(0);
    buckets[3] = count;
    return { start: new Date(start), route: "/v1/orgs/:orgId", method: "GET", statusClass, count, sumMs: 0, buckets };
  };
  return [row(2, PER_MINUTE - errors), row(5, errors)].filter((r) => r.count > 0);
}

function traffic(from: number, ms: number, errors: number): RouteMinute[] {
  const rows: RouteMinute[] = [];
  for (let at = from; at < from + ms; at += MINUTE) rows.push(...minuteOf(at, errors));
  return rows;
}

interface Received {
  path: string;
  headers: Headers;
  body: Record<string, unknown>;
}

describe("stored SLO alert channels", () => {
  let clock = Date.now();
  let runtime: TestRuntime;
  let client: IdentityClient;
  let app: RampartApp;
  const answers: string[] = [];
  const received: Received[] = [];
  const standIn = Bun.serve({
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      const body = (await request.json()) as Record<string, unknown>;
      received.push({ path, headers: request.headers, body });
      return path === "/pagerduty" ? Response.json({ status: "success" }, { status: 202 }) : new Response("ok");
    },
  });
  const base = `http://127.0.0.1:${standIn.port}`;
  const slackUrl = `${base}/services/T000/B000/${SLACK_TOKEN}`;

  beforeAll(async () => {
    runtime = await openTestRuntime({
      now: () => clock,
      env: { ...ENV, SLO_SLACK_WEBHOOK_URL: `${base}/env-slack` },
    });
    app = buildApp(runtime, [slo]);
    client = identityClient(runtime, app);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    standIn.stop(true);
    await runtime.close();
  });

  /** Calls the route, keeping the answer's text for the no-secret check. */
  const call = async (method: string, path: string, options: { token?: string; body?: unknown } = {}) => {
    const response = await client.call(method, path, { token: ADMIN_TOKEN, ...options });
    const text = await response.text();
    answers.push(text);
    return { status: response.status, body: (text === "" ? undefined : JSON.parse(text)) as unknown };
  };
  const create = async (body: Record<string, unknown>) => {
    // Each a second apart: the list is ordered by creation.
    clock += 1_000;
    const answer = await call("POST", "/admin/slo/channels", { body });
    expect(answer.status).toBe(201);
    return (answer.body as { channel: AlertChannelView }).channel;
  };
  const channelRows = () => runtime.db.primary.select().from(sloAlertChannels);
  const auditRows = () => runtime.db.primary.select().from(auditEvents);

  let slack: AlertChannelView;
  let pagerduty: AlertChannelView;
  let webhook: AlertChannelView;
  let disabled: AlertChannelView;

  test("an operator creates channels; answers show a masked hint, never the secret; each is audited", async () => {
    slack = await create({ kind: "slack", webhookUrl: slackUrl });
    pagerduty = await create({ kind: "pagerduty", routingKey: ROUTING_KEY, eventsUrl: `${base}/pagerduty` });
    webhook = await create({ kind: "webhook", url: `${base}/hook`, secret: WEBHOOK_SECRET });
    disabled = await create({ kind: "slack", webhookUrl: `${base}/services/T000/B000/DisabledChannel` });
    expect(slack).toMatchObject({ kind: "slack", url: null, secretHint: "…6789", enabled: true });
    expect(pagerduty).toMatchObject({ kind: "pagerduty", url: `${base}/pagerduty`, secretHint: "…0000" });
    expect(webhook).toMatchObject({ kind: "webhook", url: `${base}/hook`, secretHint: `…${WEBHOOK_SECRET.slice(-4)}` });

    const patched = await call("PATCH", `/admin/slo/channels/${disabled.id}`, { body: { enabled: false } });
    expect(patched).toMatchObject({ status: 200, body: { channel: { id: disabled.id, enabled: false } } });
    const listed = await call("GET", "/admin/slo/channels");
    expect((listed.body as { channels: AlertChannelView[] }).channels.map((c) => [c.id, c.enabled])).toEqual([
      [slack.id, true],
      [pagerduty.id, true],
      [webhook.id, true],
      [disabled.id, false],
    ]);

    const audited = (await auditRows()).filter((row) => row.targetType === "slo_alert_channel");
    expect(audited.map((row) => [row.action, row.targetId])).toEqual([
      ["slo.channel.created", slack.id],
      ["slo.channel.created", pagerduty.id],
      ["slo.channel.created", webhook.id],
      ["slo.channel.created", disabled.id],
      ["slo.channel.disabled", disabled.id],
    ]);
    expect(audited.every((row) => row.actorType === "admin")).toBe(true);
  });

  test("the column holds ciphertext that decrypts only with its own row's id", async () => {
    const rows = await channelRows();
    const slackRow = rows.find((row) => row.id === slack.id);
    if (slackRow === undefined) throw new Error("no slack row");
    expect(slackRow.secretCiphertext).toStartWith("v1.");
    expect(slackRow.secretCiphertext).not.toContain(SLACK_TOKEN);
    const { encryptor } = runtime.services.identity;
    expect(await encryptor.decrypt(slackRow.secretCiphertext, alertChannelRowIdentity(slack.id))).toBe(slackUrl);
    await expect(encryptor.decrypt(slackRow.secretCiphertext, alertChannelRowIdentity(disabled.id))).rejects.toThrow(
      DecryptError,
    );
  });

  test("a non-operator gets 403 on every channel route and nothing changes", async () => {
    const user = await client.createUser();
    const before = { channels: await channelRows(), audit: (await auditRows()).length };
    for (const [method, path, body] of [
      ["GET", "/admin/slo/channels", undefined],
      ["POST", "/admin/slo/channels", { kind: "slack", webhookUrl: `${base}/services/T/B/intruder` }],
      ["PATCH", `/admin/slo/channels/${slack.id}`, { enabled: false }],
      ["DELETE", `/admin/slo/channels/${slack.id}`, undefined],
    ] as const) {
      const answer = await call(method, path, { token: user.token, body });
      expect({ method, path, answer }).toMatchObject({
        answer: { status: 403, body: { error: { code: "FORBIDDEN" } } },
      });
    }
    expect({ channels: await channelRows(), audit: (await auditRows()).length }).toEqual(before);
  });

  test("bad input gets 422 or 400 in the envelope, and stores nothing", async () => {
    const before = (await channelRows()).length;
    const invalid = async (body: unknown, path?: string) => {
      const answer = await call("POST", "/admin/slo/channels", { body });
      expect(answer.status).toBe(422);
      const { error } = answer.body as ErrorBody;
      expect(error.code).toBe("VALIDATION_FAILED");
      if (path !== undefined) expect(JSON.stringify(error.details)).toContain(`"path":"${path}"`);
    };
    await invalid({ kind: "email", to: "ops@example.com" });
    await invalid({ kind: "slack", webhookUrl: slackUrl, extra: 1 });
    await invalid({ kind: "pagerduty", routingKey: "not a key!" });
    // A private address is refused even where local endpoints are allowed (SSRF).
    await invalid({ kind: "slack", webhookUrl: "http://10.0.0.7/services/T/B/x" }, "webhookUrl");
    await invalid({ kind: "webhook", url: `${base}/hook`, secret: "not-a-whsec-secret" }, "secret");
    await invalid({ kind: "webhook", url: "not a url", secret: WEBHOOK_SECRET }, "url");
    // Without WEBHOOK_LOCAL_ENDPOINTS (as in production) plain http: is refused.
    const strict = deriveRuntime(runtime, {
      config: loadConfig({ NODE_ENV: "test", ...ENV, WEBHOOK_LOCAL_ENDPOINTS: "" }),
    });
    const strictAnswer = await identityClient(runtime, buildApp(strict, [slo])).call("POST", "/admin/slo/channels", {
      token: ADMIN_TOKEN,
      body: { kind: "pagerduty", routingKey: ROUTING_KEY, eventsUrl: "http://example.com/enqueue" },
    });
    expect(strictAnswer.status).toBe(422);
    expect(await strictAnswer.text()).toContain("the URL must be https:");

    const malformed = await app.fetch(
      new Request("http://localhost/admin/slo/channels", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: '{"kind": "slack",',
      }),
    );
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as ErrorBody).error.code).toBe("INVALID_JSON");
    const unknown = await call("PATCH", `/admin/slo/channels/${crypto.randomUUID()}`, { body: { enabled: false } });
    expect(unknown).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND" } } });
    expect((await call("DELETE", "/admin/slo/channels/not-a-uuid")).status).toBe(422);
    expect((await channelRows()).length).toBe(before);
  });

  test(
    "the stored Slack, PagerDuty and webhook channels and the environment's Slack get the firing and the resolve once",
    async () => {
      const errorsAt = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
      const rows = [
        ...traffic(errorsAt - 3 * DAY, 3 * DAY, 0),
        ...traffic(errorsAt, 2 * MINUTE, PER_MINUTE),
        ...traffic(errorsAt + 2 * MINUTE, 60 * MINUTE, 0),
      ];
      const job = createEvaluateSlosJob({
        slos: [
          defineSlo({
            name: "stored",
            group: "orgs",
            routes: ["/v1/orgs/*"],
            sli: { kind: "availability" },
            objective: 0.999,
          }),
        ],
        minutesOf: () => async (start, end) => rows.filter((row) => row.start >= start && row.start < end),
      });
      for (let at = errorsAt; at <= errorsAt + 14 * MINUTE; at += MINUTE) {
        clock = at;
        expect((await runScheduledJob(runtime, job, new Date(at))).status).toBe("succeeded");
      }
      const byPath = (path: string) => received.filter((r) => r.path === path);
      const slackTexts = (path: string) => byPath(path).map((r) => String(r.body.text).includes("recovered"));
      expect(slackTexts(`/services/T000/B000/${SLACK_TOKEN}`)).toEqual([false, true]);
      expect(slackTexts("/env-slack")).toEqual([false, true]);
      expect(byPath("/services/T000/B000/DisabledChannel")).toEqual([]);
      expect(byPath("/pagerduty").map((r) => [r.body.routing_key, r.body.event_action, r.body.dedup_key])).toEqual([
        [ROUTING_KEY, "trigger", "slo:stored:page"],
        [ROUTING_KEY, "resolve", "slo:stored:page"],
      ]);
      const hooks = byPath("/hook");
      expect(hooks.map((r) => r.headers.get("webhook-signature")?.startsWith("v1,"))).toEqual([true, true]);
      const notifications = await runtime.db.primary
        .select({ channelId: sloAlertNotifications.channelId, deliveredAt: sloAlertNotifications.deliveredAt })
        .from(sloAlertNotifications)
        .where(eq(sloAlertNotifications.dedupKey, "slo:stored:page"));
      // One notification per change per channel, each delivered: the disabled channel got none.
      const delivered = new Map<string, number>();
      for (const { channelId, deliveredAt } of notifications)
        if (deliveredAt !== null) delivered.set(channelId ?? "env", (delivered.get(channelId ?? "env") ?? 0) + 1);
      expect(Object.fromEntries(delivered)).toEqual({ env: 2, [slack.id]: 2, [pagerduty.id]: 2, [webhook.id]: 2 });
      expect(notifications.length).toBe(8);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "reencrypt-secrets moves the stored secrets to the newest key version",
    async () => {
      const v2 = deriveRuntime(runtime, {
        config: loadConfig({ NODE_ENV: "test", ...ENV, ENCRYPTION_KEYS: `${V2},${V1}` }),
      });
      clock += DAY;
      expect((await runScheduledJob(v2, reencryptSecrets, new Date(clock))).status).toBe("succeeded");
      const v2Only = createEncryptor(loadConfig({ NODE_ENV: "test", ENCRYPTION_KEYS: V2 }).encryptionKeys);
      const secrets = await Promise.all(
        (await channelRows()).map(async (row) => {
          expect(row.secretCiphertext).toStartWith("v2.");
          return [row.id, await v2Only.decrypt(row.secretCiphertext, alertChannelRowIdentity(row.id))];
        }),
      );
      expect(Object.fromEntries(secrets)).toMatchObject({
        [slack.id]: slackUrl,
        [pagerduty.id]: ROUTING_KEY,
        [webhook.id]: WEBHOOK_SECRET,
      });
    },
    TEST_TIMEOUT_MS,
  );

  test("a ciphertext moved to another row does not open", async () => {
    const [from] = await channelRows().then((rows) => rows.filter((row) => row.id === slack.id));
    if (from === undefined) throw new Error("no slack row");
    await runtime.db.primary
      .update(sloAlertChannels)
      .set({ secretCiphertext: from.secretCiphertext })
      .where(eq(sloAlertChannels.id, disabled.id));
    const v2 = createEncryptor(loadConfig({ NODE_ENV: "test", ENCRYPTION_KEYS: `${V2},${V1}` }).encryptionKeys);
    await expect(openAlertChannel(runtime.db.primary, v2, disabled.id)).rejects.toThrow(DecryptError);
  });

  test("a change whose audit row fails answers 5xx and does not happen", async () => {
    const db = runtime.db.primary;
    await db.execute(
      sql`create or replace function test_refuse_audit() returns trigger as $$
        begin raise exception 'audit refused by the test'; end; $$ language plpgsql`,
    );
    await db.execute(
      sql`create trigger test_refuse_audit before insert on audit_events
        for each row execute function test_refuse_audit()`,
    );
    const before = await channelRows();
    try {
      for (const [method, path, body] of [
        ["POST", "/admin/slo/channels", { kind: "slack", webhookUrl: `${base}/services/T/B/unaudited` }],
        ["PATCH", `/admin/slo/channels/${slack.id}`, { enabled: false }],
        ["DELETE", `/admin/slo/channels/${pagerduty.id}`, undefined],
      ] as const) {
        const answer = await call(method, path, { body });
        expect({ path, failed: answer.status >= 500 }).toEqual({ path, failed: true });
      }
    } finally {
      await db.execute(sql`drop trigger if exists test_refuse_audit on audit_events`);
    }
    expect(await channelRows()).toEqual(before);
  });

  test("deleting a channel is audited; no answer, log line or audit row ever held a secret", async () => {
    expect((await call("DELETE", `/admin/slo/channels/${disabled.id}`)).status).toBe(204);
    expect((await channelRows()).map((row) => row.id)).not.toContain(disabled.id);
    const [deleted] = await runtime.db.primary
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(eq(auditEvents.targetId, disabled.id));
    expect(deleted).toBeDefined();
    const audit = JSON.stringify(await auditRows());
    expect(audit).toContain("slo.channel.deleted");
    for (const secret of [SLACK_TOKEN, ROUTING_KEY, WEBHOOK_SECRET.slice(6, 30)])
      for (const [where, text] of [
        ["answers", answers.join("\n")],
        ["logs", runtime.logLines.join("\n")],
        ["audit", audit],
      ] as const)
        expect({ where, holdsSecret: text.includes(secret) }).toEqual({ where, holdsSecret: false });
  });
});
