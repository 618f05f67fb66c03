/**
 * An organization's inbound webhook sources. Only its admins manage them: a source's secret decides which
 * deliveries the organization's handlers act on.
 */
import { Elysia } from "elysia";
import { auditActorOf } from "../lib/audit/audit-log.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { perUser, READ, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { WEBHOOK_KINDS } from "../lib/webhooks/webhook-secret.ts";
import {
  createWebhookSource,
  DEFAULT_SECRET_OVERLAP_SECONDS,
  disableWebhookSource,
  listWebhookSources,
  MAX_SECRET_OVERLAP_SECONDS,
  rotateWebhookSecret,
} from "../lib/webhooks/webhook-sources.ts";

const ORG_ADMIN = { param: "orgId", role: "admin" } as const;

const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
const sourceParams = lazySchema(({ type }) => type({ orgId: "string.uuid", sourceId: "string.uuid" }));
const createSourceBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    kind: type.enumerated(...WEBHOOK_KINDS),
    name: type("string.trim").to("1 <= string <= 100"),
    secret: "1 <= string <= 256",
  }),
);
const rotateSecretBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    secret: "1 <= string <= 256",
    "overlapSeconds?": `0 <= number.integer <= ${MAX_SECRET_OVERLAP_SECONDS}`,
  }),
);

export default defineRouteGroup("webhook-sources", (runtime) =>
  new Elysia({ name: "webhook-sources" })
    .use(policyPlugin)
    .post(
      "/v1/orgs/:orgId/webhook-sources",
      async ({ body, org, request, set, user }) => {
        const source = await createWebhookSource(runtime, auditActorOf(user), org.id, body, request);
        set.status = 201;
        return source;
      },
      {
        user: { ...WRITE, rateLimits: [perUser(30, "1m")] },
        org: ORG_ADMIN,
        params: orgParams,
        body: createSourceBody,
      },
    )
    .get(
      "/v1/orgs/:orgId/webhook-sources",
      async ({ org }) => ({ sources: await runtime.db.read((db) => listWebhookSources(db, org.id, runtime.now())) }),
      { user: { ...READ, rateLimits: [perUser(300, "1m")] }, org: ORG_ADMIN, params: orgParams },
    )
    .delete(
      "/v1/orgs/:orgId/webhook-sources/:sourceId",
      async ({ org, params, request, set, user }) => {
        await disableWebhookSource(runtime, auditActorOf(user), org.id, params.sourceId, request);
        set.status = 204;
      },
      { user: { ...WRITE_NO_BODY, rateLimits: [perUser(60, "1m")] }, org: ORG_ADMIN, params: sourceParams },
    )
    .post(
      "/v1/orgs/:orgId/webhook-sources/:sourceId/rotate",
      async ({ body, org, params, request, set, user }) => {
        const rotated = await rotateWebhookSecret(
          runtime,
          auditActorOf(user),
          org.id,
          params.sourceId,
          { secret: body.secret, overlapSeconds: body.overlapSeconds ?? DEFAULT_SECRET_OVERLAP_SECONDS },
          request,
        );
        set.status = 201;
        return rotated;
      },
      {
        user: { ...WRITE, rateLimits: [perUser(30, "1m")] },
        org: ORG_ADMIN,
        params: sourceParams,
        body: rotateSecretBody,
      },
    ),
);
