/**
 * An organization's API keys. Creating, revoking and rotating need a signed-in admin: a key that could
 * mint keys would let a leaked one outlive its own revocation. Keys holding `keys:read` may list them.
 */
import { type } from "arktype";
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
import { authenticatedCallerOf } from "../lib/auth/authenticated-caller.ts";
import { requireOrgRole } from "../lib/auth/org-access.ts";
import { API_KEY_SCOPES } from "../lib/core/api-key-scopes.ts";
import type { RoutePolicy } from "../lib/core/route-policy.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

const CREATE_KEY: RoutePolicy = {
  access: "user",
  org: { param: "orgId", role: "admin" },
  rateLimits: [
    { name: "burst", limit: 10, window: "1s", scope: "user" },
    { name: "sustained", limit: 60, window: "1m", scope: "user" },
  ],
  bodyLimitBytes: 4 * 1024,
  timeout: "write",
};
const LIST_KEYS: RoutePolicy = {
  access: "user-or-key",
  org: { param: "orgId", role: "admin" },
  scopes: ["keys:read"],
  rateLimits: [
    { name: "per-user", limit: 300, window: "1m", scope: "user" },
    { name: "per-key", limit: 600, window: "1m", scope: "key" },
  ],
  bodyLimitBytes: 0,
  timeout: "read",
};
const REVOKE_KEY: RoutePolicy = {
  access: "user",
  org: { param: "orgId", role: "admin" },
  rateLimits: [{ name: "revoke", limit: 60, window: "1m", scope: "user" }],
  bodyLimitBytes: 0,
  timeout: "write",
};
const ROTATE_KEY: RoutePolicy = {
  access: "user",
  rateLimits: [{ name: "rotate", limit: 30, window: "1m", scope: "user" }],
  bodyLimitBytes: 1024,
  timeout: "write",
};

const orgParams = type({ orgId: "string.uuid" });
const orgKeyParams = type({ orgId: "string.uuid", keyId: "string.uuid" });
const keyParams = type({ keyId: "string.uuid" });
const createKeyBody = type({
  "+": "reject",
  name: type("string.trim").to("1 <= string <= 100"),
  scopes: type
    .enumerated(...API_KEY_SCOPES)
    .array()
    .atLeastLength(1),
  "expiresAt?": "string.date.iso.parse",
  "rateLimitPerMinute?": "1 <= number.integer <= 100000",
});
// The body is optional: a POST without one arrives as an empty string (the pipeline decodes non-JSON bodies as text).
const rotateBody = type({
  "+": "reject",
  "gracePeriodSeconds?": `0 <= number.integer <= ${MAX_ROTATION_GRACE_SECONDS}`,
}).or(type("undefined | ''").pipe((): { gracePeriodSeconds?: number } => ({})));

export default defineRouteGroup("keys", (runtime) =>
  new Elysia({ name: "keys" })
    .use(policyPlugin)
    .post(
      "/v1/orgs/:orgId/keys",
      async ({ body, params, request, set }) => {
        if (body.expiresAt !== undefined && body.expiresAt.getTime() <= Date.now()) {
          throw new AppError("VALIDATION_FAILED", undefined, {
            fields: [{ path: "expiresAt", message: "expiresAt must be in the future" }],
          });
        }
        const issued = await createApiKey(
          runtime,
          auditActorOf(authenticatedCallerOf(request)),
          params.orgId,
          { ...body, scopes: [...new Set(body.scopes)] },
          request,
        );
        set.status = 201;
        return issued;
      },
      { policy: CREATE_KEY, params: orgParams, body: createKeyBody },
    )
    .get(
      "/v1/orgs/:orgId/keys",
      async ({ params }) => ({ keys: await listApiKeys(runtime.db.primary, params.orgId) }),
      { policy: LIST_KEYS, params: orgParams },
    )
    .delete(
      "/v1/orgs/:orgId/keys/:keyId",
      async ({ params, request, set }) => {
        await revokeApiKey(runtime, auditActorOf(authenticatedCallerOf(request)), params.orgId, params.keyId, request);
        set.status = 204;
      },
      { policy: REVOKE_KEY, params: orgKeyParams },
    )
    .post(
      "/v1/keys/:keyId/rotate",
      async ({ body, params, request, set }) => {
        const caller = authenticatedCallerOf(request);
        const orgId = await orgOfApiKey(runtime.db.primary, params.keyId);
        if (orgId === undefined) throw keyNotFound();
        // Another tenant's key answers exactly like a key that does not exist.
        await requireOrgRole(runtime, caller, orgId, "admin", keyNotFound);
        const rotated = await rotateApiKey(
          runtime,
          auditActorOf(caller),
          params.keyId,
          body.gracePeriodSeconds ?? DEFAULT_ROTATION_GRACE_SECONDS,
          request,
        );
        set.status = 201;
        return rotated;
      },
      { policy: ROTATE_KEY, params: keyParams, body: rotateBody },
    ),
);
