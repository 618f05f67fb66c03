/**
 * An organization's API keys. Creating, changing, revoking and rotating need a signed-in admin: a key that could
 * mint keys would let a leaked one outlive its own revocation. Keys holding `keys:read` may list them, and keys
 * holding `keys:verify` (the organization's root credential for its other services) may verify its keys.
 */
import { Elysia } from "elysia";
import { auditActorOf } from "../lib/audit/audit-log.ts";
import {
  type CreditSettings,
  createApiKey,
  DEFAULT_ROTATION_GRACE_SECONDS,
  keyNotFound,
  lastUsedOf,
  listApiKeys,
  MAX_ROTATION_GRACE_SECONDS,
  orgOfApiKey,
  revokeApiKey,
  rotateApiKey,
  updateApiKey,
} from "../lib/auth/api-keys.ts";
import { getIdentity, putIdentity } from "../lib/auth/key-identities.ts";
import { assertMetaSize } from "../lib/auth/key-meta.ts";
import { requireOrgRole } from "../lib/auth/org-access.ts";
import { subjectLabels, VERIFICATION_SERIES } from "../lib/auth/verification-analytics.ts";
import { type KeyLimitCheck, verifyKeyFor } from "../lib/auth/verify-key.ts";
import { orgKeysTag } from "../lib/cache/cache-tags.ts";
import { API_KEY_SCOPES } from "../lib/core/api-key-scopes.ts";
import { lazySchema } from "../lib/core/lazy-schema.ts";
import { orgCache, perKey, perUser, READ, RECENT_SIGN_IN, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
import type { ResolvedRateLimitRule } from "../lib/core/route-policy.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { rateLimiterOf } from "../lib/guards/rate-limit/open-rate-limiter.ts";
import { withIdentityLimits, withPerKeyLimit } from "../lib/guards/rate-limit/per-key-limit.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { readVerifications, type VerificationGranularity } from "../lib/metrics-rollup/read-verifications.ts";
import { createFirstAttemptSender } from "../lib/webhooks/first-attempts.ts";
import type { OutboundDeliveryOptions } from "../lib/webhooks/outbound-delivery.ts";

const ORG_ADMIN = { param: "orgId", role: "admin" } as const;
const MAX_CREDITS = 1_000_000_000;
const VERIFY_ROUTE = "POST /v1/keys/verify";
const NO_RULES: readonly ResolvedRateLimitRule[] = [];

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
const updateKeyBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    "name?": type("string.trim").to("1 <= string <= 100"),
    "meta?": "Record<string, unknown> | null",
    "enabled?": "boolean",
    "externalId?": type("string.trim").to("1 <= string <= 255").or("null"),
    "remaining?": `0 <= number.integer <= ${MAX_CREDITS} | null`,
    "refill?": type({
      "+": "reject",
      interval: "'daily' | 'monthly'",
      amount: `1 <= number.integer <= ${MAX_CREDITS}`,
    }).or("null"),
  }),
);
const identityParams = lazySchema(({ type }) =>
  type({ orgId: "string.uuid", externalId: type("string").to("1 <= string <= 255") }),
);
const putIdentityBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    "meta?": "Record<string, unknown>",
    "ratelimits?": type({
      "+": "reject",
      name: /^[\w.:-]{1,64}$/,
      limit: "1 <= number.integer <= 1000000",
      duration: "1000 <= number.integer <= 86400000",
    })
      .array()
      .atMostLength(10),
    "remaining?": `0 <= number.integer <= ${MAX_CREDITS} | null`,
    "refill?": { "+": "reject", interval: "'daily' | 'monthly'", amount: `1 <= number.integer <= ${MAX_CREDITS}` },
  }),
);
const verificationsQuery = lazySchema(({ type }) =>
  type({
    "+": "reject",
    "granularity?": "'minute' | 'hour' | 'day'",
    "from?": "string.date.iso.parse",
    "to?": "string.date.iso.parse",
  }),
);
const DEFAULT_VERIFICATIONS_SPAN_MS = 86_400_000;
const MAX_VERIFICATIONS_SPAN_MS = 31 * 86_400_000;
const verifyBody = lazySchema(({ type }) =>
  type({
    "+": "reject",
    key: "1 <= string <= 512",
    "scopes?": type("1 <= string <= 100").array().atMostLength(50),
    "cost?": `0 <= number.integer <= ${MAX_CREDITS}`,
  }),
);

/**
 * The credits a change sets: `remaining` (null: unlimited) and `refill` (null: none); a refill without a count
 * starts full. Undefined when the change leaves the credits alone.
 */
function creditsOf(
  remaining: number | null | undefined,
  refill: CreditSettings["refill"] | null | undefined,
): CreditSettings | null | undefined {
  if (remaining === undefined && refill === undefined) return undefined;
  if (remaining === null) return null;
  return { remaining: remaining ?? refill?.amount ?? 0, refill: refill ?? undefined };
}

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
    const verificationsOf = async (
      series: { series: string; labels: Record<string, string> },
      query: { granularity?: VerificationGranularity; from?: Date; to?: Date },
    ) => {
      const now = runtime.now();
      const to = query.to ?? new Date(now + 1);
      const from = query.from ?? new Date(to.getTime() - DEFAULT_VERIFICATIONS_SPAN_MS);
      if (from >= to || to.getTime() - from.getTime() > MAX_VERIFICATIONS_SPAN_MS)
        throw new AppError("VALIDATION_FAILED", undefined, {
          fields: [{ path: "from", message: "from must be before to, at most 31 days earlier" }],
        });
      const granularity = query.granularity ?? "hour";
      const buckets = await readVerifications(runtime.db.primary, {
        ...series,
        from,
        to,
        granularity,
        store: runtime.store,
        now,
      });
      return { granularity, from: from.toISOString(), to: to.toISOString(), buckets };
    };
    // The verified key's own and identity limits, in the same counters as the guard chain's (across routes).
    const rateLimiter = rateLimiterOf(runtime);
    const checkLimits: KeyLimitCheck = async (caller) => {
      let rules: readonly ResolvedRateLimitRule[] = NO_RULES;
      if (caller.rateLimitPerMinute !== undefined) rules = withPerKeyLimit(rules, caller.rateLimitPerMinute);
      if (caller.identity !== undefined) rules = withIdentityLimits(rules, caller.identity.rateLimits);
      if (rules.length === 0) return undefined;
      const subject = { ip: "verify", key: caller.keyId, org: caller.orgId, identity: caller.identity?.id };
      const waitMs = runtime.settings.current().timeoutsMs.read;
      const outcome = await rateLimiter.check(VERIFY_ROUTE, rules, subject, waitMs);
      return outcome === undefined ? undefined : { allowed: outcome.allowed, ...outcome.binding };
    };
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
          const credits = creditsOf(remaining, refill) ?? undefined;
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
            // Room for 4 KiB of metadata beside the rest.
            bodyLimitBytes: 8 * 1024,
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
      .patch(
        "/v1/orgs/:orgId/keys/:keyId",
        async ({ body, org, params, request, user }) => {
          const { remaining, refill, ...changes } = body;
          assertMetaSize(changes.meta ?? undefined);
          const credits = creditsOf(remaining, refill);
          const key = await updateApiKey(
            runtime,
            auditActorOf(user),
            org.id,
            params.keyId,
            { ...changes, credits },
            request,
          );
          sendFirstAttempts(org.id);
          return key;
        },
        {
          // A revoked key cannot be changed: 404 like a missing one.
          user: { ...WRITE, bodyLimitBytes: 8 * 1024, rateLimits: [perUser(60, "1m", { name: "update" })] },
          org: ORG_ADMIN,
          params: orgKeyParams,
          body: updateKeyBody,
        },
      )
      .put(
        "/v1/orgs/:orgId/identities/:externalId",
        async ({ body, org, params, request, user }) => {
          assertMetaSize(body.meta);
          const identity = await putIdentity(
            runtime,
            auditActorOf(user),
            org.id,
            params.externalId,
            {
              meta: body.meta,
              rateLimits: body.ratelimits?.map(({ name, limit, duration }) => ({ name, limit, windowMs: duration })),
              credits: creditsOf(body.remaining, body.refill),
            },
            request,
          );
          return { identity };
        },
        {
          user: { ...WRITE, bodyLimitBytes: 8 * 1024, rateLimits: [perUser(60, "1m", { name: "identity" })] },
          org: ORG_ADMIN,
          params: identityParams,
          body: putIdentityBody,
        },
      )
      .get(
        "/v1/orgs/:orgId/identities/:externalId",
        async ({ org, params }) => ({ identity: await getIdentity(runtime.db.primary, org.id, params.externalId) }),
        {
          userOrKey: { ...READ, scopes: ["keys:read"], rateLimits: [perUser(300, "1m"), perKey(600, "1m")] },
          org: ORG_ADMIN,
          params: identityParams,
        },
      )
      .get(
        "/v1/orgs/:orgId/keys/:keyId/verifications",
        async ({ org, params, query }) => {
          const lastUsedAt = await lastUsedOf(runtime.db.primary, org.id, params.keyId);
          const series = { series: VERIFICATION_SERIES.key, labels: subjectLabels("key", params.keyId, org.id) };
          return { keyId: params.keyId, lastUsedAt, ...(await verificationsOf(series, query)) };
        },
        {
          userOrKey: { ...READ, scopes: ["keys:read"], rateLimits: [perUser(120, "1m"), perKey(120, "1m")] },
          org: ORG_ADMIN,
          params: orgKeyParams,
          query: verificationsQuery,
        },
      )
      .get(
        "/v1/orgs/:orgId/verifications",
        async ({ org, query }) => {
          const series = { series: VERIFICATION_SERIES.org, labels: subjectLabels("org", org.id, org.id) };
          return { orgId: org.id, ...(await verificationsOf(series, query)) };
        },
        {
          userOrKey: { ...READ, scopes: ["keys:read"], rateLimits: [perUser(120, "1m"), perKey(120, "1m")] },
          org: ORG_ADMIN,
          params: orgParams,
          query: verificationsQuery,
        },
      )
      .get(
        "/v1/orgs/:orgId/identities/:externalId/verifications",
        async ({ org, params, query }) => {
          const { id } = await getIdentity(runtime.db.primary, org.id, params.externalId);
          const series = { series: VERIFICATION_SERIES.identity, labels: subjectLabels("identity", id, org.id) };
          return { externalId: params.externalId, ...(await verificationsOf(series, query)) };
        },
        {
          userOrKey: { ...READ, scopes: ["keys:read"], rateLimits: [perUser(120, "1m"), perKey(120, "1m")] },
          org: ORG_ADMIN,
          params: identityParams,
          query: verificationsQuery,
        },
      )
      .post(
        "/v1/keys/verify",
        ({ body, key }) =>
          verifyKeyFor({ apiKeys: runtime.services.identity.apiKeys, checkLimits, now: runtime.now }, key.orgId, body),
        {
          // The caller is the organization's root credential: its own credits are not spent by verifying others.
          key: {
            ...WRITE,
            bodyLimitBytes: 2 * 1024,
            scopes: ["keys:verify"],
            cost: 0,
            rateLimits: [perKey(60_000, "1m", { name: "verify" })],
          },
          body: verifyBody,
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
