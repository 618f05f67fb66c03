/**
 * GET /admin/slo: each declared SLO's objective, SLI over its window, budget left, burn rates and firing alerts;
 * /admin/slo/channels: the alert channels operators store beside the ones the environment configures.
 */
import { Elysia } from "elysia";
import { type Arktype, lazySchema } from "../lib/core/lazy-schema.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import {
  createAlertChannel,
  deleteAlertChannel,
  listAlertChannels,
  setAlertChannelEnabled,
} from "../lib/slo/alert-channels.ts";
import { DECLARED_SLOS } from "../lib/slo/declared-slos.ts";
import { rollupMinuteSource } from "../lib/slo/rollup-minute-source.ts";
import { buildSloReport } from "../lib/slo/slo-report.ts";
import { endpointUrlOptionsOf } from "../lib/webhooks/endpoint-url.ts";

const READ: UserPolicy = {
  rateLimits: [{ name: "admin-slo", limit: 60, window: "1m", scope: "ip" }],
  body: "none",
  timeout: "read",
};

const CHANNELS_READ: UserPolicy = {
  rateLimits: [{ name: "admin-slo-channels-read", limit: 120, window: "1m", scope: "ip" }],
  body: "none",
  timeout: "read",
};
const CHANNELS_WRITE: UserPolicy = {
  rateLimits: [{ name: "admin-slo-channels-write", limit: 30, window: "1m", scope: "ip" }],
  bodyLimitBytes: 8 * 1024,
  timeout: "write",
};
const CHANNELS_WRITE_NO_BODY: UserPolicy = { ...CHANNELS_WRITE, bodyLimitBytes: 0 };

const createChannelBody = lazySchema(({ type }) =>
  type({ "+": "reject", kind: "'slack'", webhookUrl: "1 <= string <= 2048" })
    .or({
      "+": "reject",
      kind: "'pagerduty'",
      routingKey: "/^[A-Za-z0-9]{1,128}$/",
      "eventsUrl?": "1 <= string <= 2048",
    })
    .or({ "+": "reject", kind: "'webhook'", url: "1 <= string <= 2048", secret: "1 <= string <= 256" }),
);
const channelParams = lazySchema(({ type }) => type({ channelId: "string.uuid" }));
const setEnabledBody = lazySchema(({ type }) => type({ "+": "reject", enabled: "boolean" }));
// lib/slo/alert-channels.ts's AlertChannelView: never the secret.
const channelViewOf = ({ type }: Arktype) =>
  type({
    id: "string",
    kind: "'slack' | 'pagerduty' | 'webhook'",
    url: "string | null",
    secretHint: "string",
    enabled: "boolean",
    createdAt: "string",
    updatedAt: "string",
  });
const channelResponse = lazySchema((arktype) => arktype.type({ channel: channelViewOf(arktype) }));
const channelsResponse = lazySchema((arktype) => arktype.type({ channels: channelViewOf(arktype).array() }));

// The response's shape, for the API docs: lib/slo/slo-report.ts's SloReport.
const sloReportResponse = lazySchema(({ type }) => {
  const burnRates = type({
    "5m": "number",
    "30m": "number",
    "1h": "number",
    "6h": "number",
    "1d": "number",
    "3d": "number",
  });
  const slo = type({
    name: "string",
    group: "string",
    sli: type({ kind: "'availability'" }).or({ kind: "'latency'", thresholdMs: "number" }),
    objective: "number",
    windowMs: "number",
    good: "number",
    total: "number",
    sliValue: "number",
    budgetRemaining: "number",
    burnRates,
    firing: type({ severity: "string", since: "string", dedupKey: "string" }).array(),
    latency: type({
      route: "string",
      method: "string",
      count: "number",
      p50: "number",
      p95: "number",
      p99: "number",
    }).array(),
  });
  return type({ generatedAt: "string", slos: slo.array() });
});

export default defineRouteGroup("slo", (runtime) => {
  const urlOptions = endpointUrlOptionsOf(runtime.config);
  return new Elysia({ name: "slo" })
    .use(policyPlugin)
    .get(
      "/admin/slo",
      () => buildSloReport(runtime.db.primary, DECLARED_SLOS, rollupMinuteSource(runtime), new Date(runtime.now())),
      { admin: READ, response: { 200: sloReportResponse } },
    )
    .get("/admin/slo/channels", async () => ({ channels: await listAlertChannels(runtime.db.primary) }), {
      admin: CHANNELS_READ,
      response: { 200: channelsResponse },
    })
    .post(
      "/admin/slo/channels",
      async ({ actor, body, request, set }) => {
        const channel = await createAlertChannel(runtime, actor, body, urlOptions, request);
        set.status = 201;
        return { channel };
      },
      { admin: CHANNELS_WRITE, body: createChannelBody, response: { 201: channelResponse } },
    )
    .patch(
      "/admin/slo/channels/:channelId",
      async ({ actor, body, params, request }) => ({
        channel: await setAlertChannelEnabled(runtime, actor, params.channelId, body.enabled, request),
      }),
      { admin: CHANNELS_WRITE, params: channelParams, body: setEnabledBody, response: { 200: channelResponse } },
    )
    .delete(
      "/admin/slo/channels/:channelId",
      async ({ actor, params, request, set }) => {
        await deleteAlertChannel(runtime, actor, params.channelId, request);
        set.status = 204;
      },
      { admin: CHANNELS_WRITE_NO_BODY, params: channelParams },
    );
});
