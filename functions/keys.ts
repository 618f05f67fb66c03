/**
 * An organization's API keys. Creating, revoking and rotating need a signed-in admin: a key that could
 * mint keys would let a leaked one outlive its own revocation. Keys holding `keys:read` may list them.
 */
import { Elysia } from "elysia";
import { auditActorOf } from "../lib/audit/audit-log.ts";
import {
  createApiKey,
  DEFAULT_ROTATION_GRACE_SECONDS,
  keyNotFound,
  listApiKeys,
  MAX_ROTATION_GRACE_SECONDS,
  orgOfApiKey,
  revokeApiKey,
  rotateApiKey,
} from "../lib/auth/api-keys.ts";
import { assertMetaSize } from "../lib/auth/key-meta.ts";
import { requireOrgRole } from "../lib/auth/org-access.ts";
import { orgKeysTag } from "../lib/cache/cache-tags.ts";
import { API_KEY_SCOPES } from "../lib/core/api-key-scopes.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { orgCache, perKey, perUser, READ, RECENT_SIGN_IN, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createFirstAttemptSender } from "../lib/webhooks/first-attempts.ts";
import type { OutboundDeliveryOptions } from "../lib/webhooks/outbound-delivery.ts";

const ORG_ADMIN = { param: "orgId", role: "admin" } as const;
const MAX_CREDITS = 1_000_000_000;

const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
const orgKeyParams = lazySchema(({ type }) => type({ orgId: "string.uuid", keyId: "string.uuid" }));
const keyParams = lazySchema(({ type }) => type({ keyId: "string.uuid" }));
const createKeyBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    name: type("string.trim").to("1 <= string <= 100"),
    scopes: type
      .enumerated(...API_KEY_SCOPES)
      .array()
      .atLeastLength(1),
    "expiresAt?": "string.date.iso.parse",
    "rateLimitPerMinute?": "1 <= number.integer <= 100000",
    "remaining?": `0 <= number.integer <= ${MAX_CREDITS}`,
    "refill?": { "+": "reject", interval: "'daily' | 'monthly'", amount: `1 <= number.integer <= ${MAX_CREDITS}` },
    "meta?": "Record<string, unknown>",
    "externalId?": type("string.trim").to("1 <= string <= 255"),
    "enabled?": "boolean",
  }),
);
// The body is optional: a POST without one arrives as an empty string (the pipeline decodes non-JSON bodies as text).
const rotateBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    "gracePeriodSeconds?": `0 <= number.integer <= ${MAX_ROTATION_GRACE_SECONDS}`,
  }).or(type("undefined | ''").pipe((): { gracePeriodSeconds?: number } => ({}))),
);

/** The routes; `outbound` configures the first attempts of the webhooks a change sends (tests allow loopback). */
export function keyRoutes(outbound: Partial<OutboundDeliveryOptions> = {}) {
  return defineRouteGroup("keys", (runtime) => {
    const sendFirstAttempts = createFirstAttemptSender(runtime, outbound);
    return new Elysia({ name: "keys" })
      .use(policyPlugin)
      .post(
        "/v1/orgs/:orgId/keys",
        async ({ body, org, request, set, user }) => {
          if (body.expiresAt !== undefined && body.expiresAt.getTime() <= Date.now()) {
            throw new AppError("VALIDATION_FAILED", undefined, {
              fields: [{ path: "expiresAt", message: "expiresAt must be in the future" }],
            });
          }
          const { remaining, refill, ...key } = body;
          assertMetaSize(key.meta);
          // A refilling key given no starting count starts full.
          const credits =
            remaining === undefined && refill === undefined
              ? undefined
              : { remaining: remaining ?? refill?.amount ?? 0, refill };
          const issued = await createApiKey(
            runtime,
            auditActorOf(user),
            org.id,
            { ...key, credits, scopes: [...new Set(body.scopes)] },
            request,
          );
          sendFirstAttempts(org.id);
          set.status = 201;
          return issued;
        },
        {
          user: {
            ...WRITE,
            rateLimits: [perUser(10, "1s", { name: "burst" }), perUser(60, "1m", { name: "sustained" })],
            recentAuth: RECENT_SIGN_IN,
          },
          org: ORG_ADMIN,
          params: orgParams,
          body: createKeyBody,
        },
      )
      .get(
        "/v1/orgs/:orgId/keys",
        async ({ org }) => ({ keys: await runtime.db.read((db) => listApiKeys(db, org.id)) }),
        {
          userOrKey: {
            ...READ,
            scopes: ["keys:read"],
            rateLimits: [perUser(300, "1m"), perKey(600, "1m")],
            // A key's lastUsedAt is written without a purge: it may lag by the TTL.
            cache: orgCache((id) => [orgKeysTag(id)], "1m"),
          },
          org: ORG_ADMIN,
          params: orgParams,
        },
      )
      .delete(
        "/v1/orgs/:orgId/keys/:keyId",
        async ({ org, params, request, set, user }) => {
          await revokeApiKey(runtime, auditActorOf(user), org.id, params.keyId, request);
          sendFirstAttempts(org.id);
          set.status = 204;
        },
        {
          user: { ...WRITE_NO_BODY, rateLimits: [perUser(60, "1m", { name: "revoke" })] },
          org: ORG_ADMIN,
          params: orgKeyParams,
        },
      )
      .post(
        "/v1/keys/:keyId/rotate",
        async ({ body, params, request, set, user }) => {
          const orgId = await orgOfApiKey(runtime.db.primary, params.keyId);
          if (orgId === undefined) throw keyNotFound();
          // Another tenant's key answers exactly like a key that does not exist.
          await requireOrgRole(runtime, user, orgId, "admin", keyNotFound);
          const rotated = await rotateApiKey(
            runtime,
            auditActorOf(user),
            params.keyId,
            body.gracePeriodSeconds ?? DEFAULT_ROTATION_GRACE_SECONDS,
            request,
          );
          sendFirstAttempts(orgId);
          set.status = 201;
          return rotated;
        },
        {
          // A key already revoked, rotated or expired cannot be rotated.
          user: {
            ...WRITE,
            bodyLimitBytes: 1024,
            rateLimits: [perUser(30, "1m", { name: "rotate" })],
            errors: ["CONFLICT"],
          },
          params: keyParams,
          body: rotateBody,
        },
      );
  });
}

export default keyRoutes();
