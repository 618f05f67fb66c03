/**
 * Inbound webhooks: the receiving route, where the signature is the authentication, and the deliveries an
 * organization's admins can list and replay.
 */
import { Elysia } from "elysia";
import { auditActorOf, recordAuditEvent } from "../lib/audit/audit-log.ts";
import { orgAuditTag } from "../lib/cache/cache-tags.ts";
import { purgeAfterCommit } from "../lib/cache/purge-after-commit.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { perUser, READ, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import { createWaitUntil } from "../lib/core/wait-until.ts";
import { WEBHOOK_INBOX_STATUSES } from "../lib/db/schema/index.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { parseJsonBody } from "../lib/guards/json-body.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { metricsRegistry } from "../lib/metrics/metrics-registry.ts";
import { WEBHOOK_HANDLERS } from "../lib/webhooks/handlers.ts";
import { listDeliveries, markForReplay, processDelivery, recordDelivery } from "../lib/webhooks/inbox.ts";
import { createSeenDeliveries } from "../lib/webhooks/seen-deliveries.ts";
import { createSourceKeyCache } from "../lib/webhooks/source-keys.ts";
import { verifyDelivery } from "../lib/webhooks/verify.ts";
import type { WebhookKind } from "../lib/webhooks/webhook-secret.ts";

const ORG_ADMIN = { param: "orgId", role: "admin" } as const;
export const WEBHOOK_BODY_LIMIT_BYTES = 256 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
const deliveryParams = lazySchema(({ type }) => type({ orgId: "string.uuid", deliveryId: "string.integer.parse" }));
const deliveriesQuery = lazySchema(({ type }) =>
  type({
    "status?": type.enumerated(...WEBHOOK_INBOX_STATUSES),
    "before?": "string.integer.parse",
    "limit?": type("string.integer.parse").to("1 <= number <= 100"),
  }),
);

// One answer for every refusal, whatever the reason: an unknown source looks like a bad signature.
const unverified = () => new AppError("UNAUTHORIZED", "The delivery's signature could not be verified.");

const fieldOf = (payload: unknown, field: string) => {
  const value = typeof payload === "object" && payload !== null ? (payload as Record<string, unknown>)[field] : null;
  return typeof value === "string" && value.length > 0 && value.length <= 256 ? value : undefined;
};

/** The event type (and Stripe's event id, which only its verified body names). */
function describe(kind: WebhookKind, headers: Headers, body: Uint8Array) {
  if (kind === "github") return { eventType: headers.get("x-github-event"), stripeId: undefined };
  let payload: unknown;
  try {
    payload = parseJsonBody(body);
  } catch (error) {
    if (kind === "stripe") throw error;
    return { eventType: null, stripeId: undefined };
  }
  return { eventType: fieldOf(payload, "type") ?? null, stripeId: fieldOf(payload, "id") };
}

export default defineRouteGroup("webhooks", (runtime) => {
  const liveKeysOf = createSourceKeyCache(runtime);
  const waitUntil = createWaitUntil(runtime.logger);
  const seen = createSeenDeliveries(runtime.store, runtime.logger);
  // Refusals leave no row: this count and the log line are all there is to alert on.
  const refused = metricsRegistry().series("webhook_inbound", { outcome: "refused" });
  const duplicates = metricsRegistry().series("webhook_inbound", { outcome: "duplicate" });
  const accepted = metricsRegistry().series("webhook_inbound", { outcome: "accepted" });
  return new Elysia({ name: "webhooks" })
    .use(policyPlugin)
    .post(
      "/v1/webhooks/:sourceId",
      async ({ body: raw, params, request }) => {
        // `body: "raw"` hands over the bytes as read, before anything parsed them.
        const body = raw as Uint8Array<ArrayBuffer>;
        const nowMs = runtime.now();
        const source = UUID.test(params.sourceId) ? await liveKeysOf(params.sourceId, nowMs) : undefined;
        const verified =
          source === undefined
            ? ({ ok: false, reason: "unknown or disabled source" } as const)
            : await verifyDelivery(source.kind, request.headers, body, source.keys, nowMs);
        if (source === undefined || !verified.ok) {
          refused.add();
          runtime.logger.warn("webhook delivery refused", {
            sourceId: params.sourceId.slice(0, 64),
            reason: verified.ok ? "" : verified.reason,
          });
          throw unverified();
        }
        const { eventType, stripeId } = describe(source.kind, request.headers, body);
        const externalId = verified.externalId ?? stripeId;
        if (externalId === undefined) throw new AppError("BAD_REQUEST", "The verified delivery names no event id.");
        if (await seen.wasSeen(params.sourceId, externalId)) {
          duplicates.add();
          return { received: true, duplicate: true };
        }
        const id = await recordDelivery(
          runtime.db.primary,
          { sourceId: params.sourceId, externalId, signedAtMs: verified.signedAtMs, eventType, body },
          nowMs,
        );
        // The row is committed; its handler runs after the answer, or later by the sweeper.
        if (id !== undefined) waitUntil(processDelivery(runtime, WEBHOOK_HANDLERS, id));
        else waitUntil(seen.markSeen(params.sourceId, externalId));
        (id === undefined ? duplicates : accepted).add();
        return { received: true, duplicate: id === undefined };
      },
      {
        public: {
          body: "raw",
          bodyLimitBytes: WEBHOOK_BODY_LIMIT_BYTES,
          accepts: ["application/json", "application/x-www-form-urlencoded", "text/plain"],
          timeout: "write",
        },
      },
    )
    .get(
      "/v1/orgs/:orgId/webhooks/deliveries",
      async ({ org, query }) =>
        runtime.db.read((db) =>
          listDeliveries(db, org.id, { status: query.status, before: query.before, limit: query.limit ?? 50 }),
        ),
      {
        user: { ...READ, rateLimits: [perUser(300, "1m")] },
        org: ORG_ADMIN,
        params: orgParams,
        query: deliveriesQuery,
      },
    )
    .post(
      "/v1/orgs/:orgId/webhooks/deliveries/:deliveryId/replay",
      async ({ org, params, request, set, user }) => {
        const deliveryId = params.deliveryId;
        const refused = await runtime.db.primary.transaction(async (tx) => {
          const why = await markForReplay(tx, org.id, deliveryId, runtime.now());
          if (why === undefined)
            await recordAuditEvent(
              tx,
              {
                action: "webhook_delivery.replayed",
                actor: auditActorOf(user),
                orgId: org.id,
                target: { type: "webhook_delivery", id: String(deliveryId) },
              },
              request,
            );
          return why;
        });
        if (refused === undefined) await purgeAfterCommit(runtime, [orgAuditTag(org.id)]);
        if (refused === "not-found") throw new AppError("NOT_FOUND", "No such webhook delivery.");
        if (refused === "not-dead") throw new AppError("CONFLICT", "Only a dead delivery can be replayed.");
        if (refused === "pruned") throw new AppError("CONFLICT", "This delivery's body was pruned; it cannot run.");
        waitUntil(processDelivery(runtime, WEBHOOK_HANDLERS, deliveryId));
        set.status = 202;
        return { replayed: true };
      },
      {
        // Only a dead delivery whose body is kept can be replayed.
        user: { ...WRITE_NO_BODY, rateLimits: [perUser(60, "1m")], errors: ["CONFLICT"] },
        org: ORG_ADMIN,
        params: deliveryParams,
      },
    );
});
