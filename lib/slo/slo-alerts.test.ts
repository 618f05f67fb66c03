import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { createEvaluateSlosJob } from "../cron/jobs/evaluate-slos.ts";
import { runScheduledJob } from "../cron/scheduled-job.ts";
import { auditEvents } from "../db/schema/index.ts";
import { LATENCY_BUCKET_COUNT } from "../metrics/latency-buckets.ts";
import type { RouteMinute } from "../metrics/route-minute.ts";
import { defineSlo } from "./slo-declaration.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const PER_MINUTE = 2_000;
const ROUTINE_TIMEOUT_MS = 120_000;

/** Requests of one minute on the SLO's route: `errors` 5xx answers among `count`, all in the 50 ms bucket. */
function minuteOf(start: number, count: number, errors: number): RouteMinute[] {
  const row = (statusClass: 2 | 5, n: number): RouteMinute => {
    const buckets = new Array(LATENCY_BUCKET_COUNT).fill(0);
    buckets[3] = n;
    return {
      start: new Date(start),
      route: "/v1/orgs/:orgId",
      method: "GET",
      statusClass,
      count: n,
      sumMs: 40 * n,
      buckets,
    };
  };
  return [row(2, count - errors), row(5, errors)].filter((r) => r.count > 0);
}

/** Traffic from `from` for `ms`, `errors` of each minute's `count` requests failing. */
function traffic(from: number, ms: number, errors: number, count = PER_MINUTE): RouteMinute[] {
  const rows: RouteMinute[] = [];
  for (let at = from; at < from + ms; at += MINUTE) rows.push(...minuteOf(at, count, errors));
  return rows;
}

interface Received {
  channel: "slack" | "pagerduty";
  body: Record<string, unknown>;
}

describe("SLO burn-rate alerts (fake clock, 99.9 %)", () => {
  let runtime: TestRuntime;
  let clock = 0;
  const received: Received[] = [];
  let failSlack = 0;
  const standIn = Bun.serve({
    port: 0,
    async fetch(request) {
      const channel = new URL(request.url).pathname === "/slack" ? "slack" : "pagerduty";
      if (channel === "slack" && failSlack > 0) {
        failSlack--;
        return new Response("down", { status: 503 });
      }
      const body = (await request.json()) as Record<string, unknown>;
      received.push({ channel, body });
      return channel === "slack"
        ? new Response("ok")
        : Response.json({ status: "success", dedup_key: body.dedup_key }, { status: 202 });
    },
  });

  beforeAll(async () => {
    runtime = await openTestRuntime({
      now: () => clock,
      env: {
        SLO_SLACK_WEBHOOK_URL: `http://127.0.0.1:${standIn.port}/slack`,
        SLO_PAGERDUTY_ROUTING_KEY: "R0UT1NGKEY0000000000000000000000",
        SLO_PAGERDUTY_URL: `http://127.0.0.1:${standIn.port}/pagerduty`,
      },
    });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    standIn.stop(true);
    await runtime.close();
  });

  /** Evaluates one SLO named `name` over `rows` from `from` to `to` every `step`; the changes, in order. */
  async function evaluate(name: string, rows: RouteMinute[], from: number, to: number, step: number) {
    const slo = defineSlo({
      name,
      group: "orgs",
      routes: ["/v1/orgs/*"],
      sli: { kind: "availability" },
      objective: 0.999,
    });
    const job = createEvaluateSlosJob({
      slos: [slo],
      minutesOf: () => async (start, end) => rows.filter((row) => row.start >= start && row.start < end),
    });
    const changes: { at: number; detail: string }[] = [];
    for (let at = from; at <= to; at += step) {
      clock = at;
      const outcome = await runScheduledJob(runtime, job, new Date(at));
      if (outcome.status !== "succeeded") throw new Error(`the run at ${new Date(at).toISOString()} was skipped`);
      if (!outcome.detail.startsWith("no change"))
        changes.push({ at: at - from, detail: outcome.detail.split(";")[0] ?? "" });
    }
    return changes;
  }

  const messagesFor = (name: string) => ({
    slack: received.filter((r) => r.channel === "slack" && String(r.body.text).includes(`SLO ${name} `)),
    pagerduty: received.filter((r) => r.channel === "pagerduty" && String(r.body.dedup_key).startsWith(`slo:${name}:`)),
  });

  test(
    "100 % errors for 2 minutes fire the 1 h/5 min page, which resolves once the windows recover, notifying once each",
    async () => {
      const t0 = Date.UTC(2026, 0, 1);
      const errorsAt = t0 + 3 * DAY;
      const rows = [
        ...traffic(t0, 3 * DAY, 0),
        ...traffic(errorsAt, 2 * MINUTE, PER_MINUTE),
        ...traffic(errorsAt + 2 * MINUTE, HOUR, 0),
      ];
      failSlack = 1;
      const changes = await evaluate("fast-burn", rows, errorsAt, errorsAt + 30 * MINUTE, MINUTE);
      // Fires on the first evaluation that sees the first failing minute; resolves 5 quiet minutes after the
      // 5-minute window no longer holds the errors (at +7 min).
      expect(changes).toEqual([
        { at: MINUTE, detail: "slo:fast-burn:page firing" },
        { at: 12 * MINUTE, detail: "slo:fast-burn:page resolved" },
      ]);
      const { slack, pagerduty } = messagesFor("fast-burn");
      // The first Slack send failed (503); the next run delivered it, before the resolve.
      expect(slack.map((m) => String(m.body.text).includes("recovered"))).toEqual([false, true]);
      expect(slack[0]?.body.blocks).toBeArray();
      expect(pagerduty.map((m) => m.body)).toEqual([
        {
          routing_key: "R0UT1NGKEY0000000000000000000000",
          event_action: "trigger",
          dedup_key: "slo:fast-burn:page",
          payload: {
            summary: "[page] SLO fast-burn (availability, objective 99.9 %) is burning its error budget",
            source: "rampart",
            severity: "critical",
            timestamp: new Date(errorsAt + MINUTE).toISOString(),
            component: "orgs",
            group: "orgs",
            class: "availability",
            custom_details: expect.objectContaining({ slo: "fast-burn", objective: 0.999 }),
          },
        },
        { routing_key: "R0UT1NGKEY0000000000000000000000", event_action: "resolve", dedup_key: "slo:fast-burn:page" },
      ]);
      const { custom_details: details } = (pagerduty[0]?.body.payload ?? {}) as {
        custom_details: Record<string, number>;
      };
      // 2,000 errors of 120,000 requests in the hour: 16.7× the 0.1 % budget; 20 % of the last 5 minutes' (200×).
      expect(details.burn1h).toBeCloseTo(16.667, 2);
      expect(details.burn5m).toBeCloseTo(200, 5);
      const audited = await runtime.db.primary
        .select({ action: auditEvents.action })
        .from(auditEvents)
        .where(eq(auditEvents.targetId, "slo:fast-burn:page"));
      expect(audited.map((row) => row.action)).toEqual(["slo.alert.firing", "slo.alert.resolved"]);
    },
    ROUTINE_TIMEOUT_MS,
  );

  test(
    "0.7 % errors for 7 h fire the 6 h/30 min page once the 6 h burn passes 6×, and it resolves after",
    async () => {
      const t0 = Date.UTC(2026, 1, 1);
      const errorsAt = t0 + 3 * DAY;
      const rows = [
        ...traffic(t0, 3 * DAY, 0),
        ...traffic(errorsAt, 7 * HOUR, 14),
        ...traffic(errorsAt + 7 * HOUR, 2 * HOUR, 0),
      ];
      const changes = await evaluate("slow-burn", rows, errorsAt, errorsAt + 8 * HOUR, 10 * MINUTE);
      // 7× over the last t hours of 6: 7t/6 > 6 from t = 5.14 h. Once the errors stop the 6 h burn stays over 6×,
      // but the 30-minute window falls under it within 5 minutes: quiet from 7 h 10, resolved 5 minutes on.
      expect(changes).toEqual([
        { at: 5 * HOUR + 10 * MINUTE, detail: "slo:slow-burn:page firing" },
        { at: 7 * HOUR + 20 * MINUTE, detail: "slo:slow-burn:page resolved" },
      ]);
      expect(messagesFor("slow-burn").slack).toHaveLength(2);
      expect(messagesFor("slow-burn").pagerduty.map((m) => m.body.event_action)).toEqual(["trigger", "resolve"]);
    },
    ROUTINE_TIMEOUT_MS,
  );

  test(
    "0.5 % errors for 7 h (5×) do not page: the 6 h/30 min rule needs more than 6×",
    async () => {
      const t0 = Date.UTC(2026, 2, 1);
      const rows = [...traffic(t0, 3 * DAY, 0), ...traffic(t0 + 3 * DAY, 7 * HOUR, 10)];
      expect(await evaluate("five-x", rows, t0 + 3 * DAY, t0 + 3 * DAY + 7 * HOUR, 10 * MINUTE)).toEqual([]);
      expect(messagesFor("five-x").slack).toEqual([]);
    },
    ROUTINE_TIMEOUT_MS,
  );

  test(
    "0.2 % errors for 3 days raise the ticket, never a page, and it resolves once the 6 h window recovers",
    async () => {
      const t0 = Date.UTC(2026, 3, 1);
      const errorsAt = t0 + 3 * DAY;
      const rows = [
        ...traffic(t0, 3 * DAY, 0),
        ...traffic(errorsAt, 3 * DAY, 4),
        ...traffic(errorsAt + 3 * DAY, DAY, 0),
      ];
      const changes = await evaluate("ticket", rows, errorsAt, errorsAt + 3 * DAY + 6 * HOUR, 30 * MINUTE);
      // 2× over the last t hours of 72: 2t/72 > 1 from t = 36 h; the 6 h window falls to 1× 3 h after the errors stop.
      expect(changes).toEqual([
        { at: 36 * HOUR + 30 * MINUTE, detail: "slo:ticket:ticket firing" },
        { at: 3 * DAY + 3 * HOUR + 30 * MINUTE, detail: "slo:ticket:ticket resolved" },
      ]);
      const { pagerduty } = messagesFor("ticket");
      expect(pagerduty.map((m) => [m.body.event_action, (m.body.payload as { severity?: string })?.severity])).toEqual([
        ["trigger", "warning"],
        ["resolve", undefined],
      ]);
    },
    ROUTINE_TIMEOUT_MS,
  );

  test(
    "0.05 % errors never alert",
    async () => {
      const t0 = Date.UTC(2026, 4, 1);
      const rows = traffic(t0, 4 * DAY, 1);
      expect(await evaluate("within-budget", rows, t0, t0 + 4 * DAY, 30 * MINUTE)).toEqual([]);
    },
    ROUTINE_TIMEOUT_MS,
  );

  test(
    "fewer requests than the guard never page, even all failing",
    async () => {
      const t0 = Date.UTC(2026, 5, 1);
      // 49 failing requests, one a minute: under the 50-event guard of every long window.
      const rows = traffic(t0, 49 * MINUTE, 1, 1);
      expect(await evaluate("quiet-night", rows, t0, t0 + 2 * HOUR, MINUTE)).toEqual([]);
      expect(messagesFor("quiet-night").slack).toEqual([]);
    },
    ROUTINE_TIMEOUT_MS,
  );
});
