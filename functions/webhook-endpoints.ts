/**
 * An organization's outbound webhook endpoints and the messages sent to them. Only its admins manage them:
 * an endpoint receives the organization's events, signed with a secret shown once.
 */
import { Elysia } from "elysia";
import { auditActorOf } from "../lib/audit/audit-log.ts";
import { orgAuditTag } from "../lib/cache/cache-tags.ts";
import { purgedAfter } from "../lib/cache/purge-after-commit.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { perUser, READ, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import { createWaitUntil } from "../lib/core/wait-until.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup, type RouteGroup } from "../lib/http/route-group.ts";
import { WEBHOOK_EVENT_TYPES } from "../lib/outbox/webhook-outbox.ts";
import { endpointUrlOptionsOf } from "../lib/webhooks/endpoint-url.ts";
import {
  createOutboundDeliverer,
  DEFAULT_OUTBOUND_DELIVERY_OPTIONS,
  listAttempts,
  type OutboundDeliverer,
  type OutboundDeliveryOptions,
  resendMessage,
} from "../lib/webhooks/outbound-delivery.ts";
import {
  createWebhookEndpoint,
  DEFAULT_ENDPOINT_OVERLAP_SECONDS,
  listWebhookEndpoints,
  MAX_ENDPOINT_OVERLAP_SECONDS,
  rotateEndpointSecret,
  setEndpointEnabled,
} from "../lib/webhooks/webhook-endpoints.ts";

const ORG_ADMIN = { param: "orgId", role: "admin" } as const;

const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
const endpointParams = lazySchema(({ type }) => type({ orgId: "string.uuid", endpointId: "string.uuid" }));
const messageParams = lazySchema(({ type }) => type({ orgId: "string.uuid", messageId: "/^msg_[0-9a-f]{32}$/" }));
const createEndpointBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    url: "1 <= string <= 2048",
    eventTypes: type
      .enumerated(...WEBHOOK_EVENT_TYPES)
      .array()
      .atLeastLength(1),
  }),
);
const rotateBody = lazySchema(({ type }) =>
  type({ "+": "reject", "overlapSeconds?": `0 <= number.integer <= ${MAX_ENDPOINT_OVERLAP_SECONDS}` }),
);
const messageNotFound = () => new AppError("NOT_FOUND", "No such webhook message.");

/** The routes over `options`; local development passes loopback and http: URL options (never production). */
export function webhookEndpointRoutes(options: Partial<OutboundDeliveryOptions> = {}): RouteGroup {
  return defineRouteGroup("webhook-endpoints", (runtime) => {
    const settings = { ...DEFAULT_OUTBOUND_DELIVERY_OPTIONS, url: endpointUrlOptionsOf(runtime.config), ...options };
    const waitUntil = createWaitUntil(runtime.logger);
    // Made on first use: building the routes (the OpenAPI build) must not touch the database.
    let deliverer: OutboundDeliverer | undefined;
    const deliverDue = () => (deliverer ??= createOutboundDeliverer(runtime, settings)).deliverDue();
    const endpointChange = (orgId: string, endpointId: string, enabled: boolean) =>
      ({ orgId, endpointId, enabled, nowMs: runtime.now() }) as const;
    return new Elysia({ name: "webhook-endpoints" })
      .use(policyPlugin)
      .post(
        "/v1/orgs/:orgId/webhook-endpoints",
        async ({ body, org, request, set, user }) => {
          const actor = auditActorOf(user);
          const endpoint = await createWebhookEndpoint(runtime, actor, org.id, body, settings.url, request);
          set.status = 201;
          return endpoint;
        },
        {
          user: { ...WRITE, rateLimits: [perUser(30, "1m")] },
          org: ORG_ADMIN,
          params: orgParams,
          body: createEndpointBody,
        },
      )
      .get(
        "/v1/orgs/:orgId/webhook-endpoints",
        async ({ org }) => ({ endpoints: await runtime.db.read((db) => listWebhookEndpoints(db, org.id)) }),
        { user: { ...READ, rateLimits: [perUser(300, "1m")] }, org: ORG_ADMIN, params: orgParams },
      )
      .post(
        "/v1/orgs/:orgId/webhook-endpoints/:endpointId/rotate",
        async ({ body, org, params, request, set, user }) => {
          const overlap = body.overlapSeconds ?? DEFAULT_ENDPOINT_OVERLAP_SECONDS;
          const rotated = await rotateEndpointSecret(
            runtime,
            auditActorOf(user),
            org.id,
            params.endpointId,
            overlap,
            request,
          );
          set.status = 201;
          return rotated;
        },
        {
          user: { ...WRITE, rateLimits: [perUser(30, "1m")] },
          org: ORG_ADMIN,
          params: endpointParams,
          body: rotateBody,
        },
      )
      .post(
        "/v1/orgs/:orgId/webhook-endpoints/:endpointId/disable",
        async ({ org, params, request, user }) =>
          purgedAfter(
            runtime,
            [orgAuditTag(org.id)],
            runtime.db.primary.transaction((tx) =>
              setEndpointEnabled(tx, endpointChange(org.id, params.endpointId, false), auditActorOf(user), request),
            ),
          ),
        { user: { ...WRITE_NO_BODY, rateLimits: [perUser(60, "1m")] }, org: ORG_ADMIN, params: endpointParams },
      )
      .post(
        "/v1/orgs/:orgId/webhook-endpoints/:endpointId/enable",
        async ({ org, params, request, user }) =>
          purgedAfter(
            runtime,
            [orgAuditTag(org.id)],
            runtime.db.primary.transaction((tx) =>
              setEndpointEnabled(tx, endpointChange(org.id, params.endpointId, true), auditActorOf(user), request),
            ),
          ),
        { user: { ...WRITE_NO_BODY, rateLimits: [perUser(60, "1m")] }, org: ORG_ADMIN, params: endpointParams },
      )
      .get(
        "/v1/orgs/:orgId/webhook-messages/:messageId/attempts",
        async ({ org, params }) => {
          const attempts = await runtime.db.read((db) => listAttempts(db, org.id, params.messageId));
          if (attempts === undefined) throw messageNotFound();
          return { attempts };
        },
        { user: { ...READ, rateLimits: [perUser(300, "1m")] }, org: ORG_ADMIN, params: messageParams },
      )
      .post(
        "/v1/orgs/:orgId/webhook-messages/:messageId/resend",
        async ({ org, params, set }) => {
          const scheduled = await resendMessage(runtime.db.primary, org.id, params.messageId, runtime.now());
          if (scheduled === undefined) throw messageNotFound();
          waitUntil(deliverDue());
          set.status = 202;
          return { scheduled };
        },
        { user: { ...WRITE_NO_BODY, rateLimits: [perUser(30, "1m")] }, org: ORG_ADMIN, params: messageParams },
      );
  });
}

export default webhookEndpointRoutes();
