/**
 * Organizations and their members. Reads and settings are open to the org's API keys by scope; member
 * changes need a signed-in admin, so a leaked key cannot grant anyone a role that outlives its revocation.
 */
import { type } from "arktype";
import { Elysia } from "elysia";
import { auditActorOf } from "../lib/audit/audit-log.ts";
import { authenticatedCallerOf } from "../lib/auth/authenticated-caller.ts";
import { MAX_EMAIL_LENGTH, normaliseEmail } from "../lib/auth/credentials.ts";
import { orgNotFound } from "../lib/auth/org-access.ts";
import { signedInUserOf } from "../lib/auth/signed-in-user.ts";
import { ORG_ROLES } from "../lib/core/org-roles.ts";
import type { RateLimitRule, RoutePolicy } from "../lib/core/route-policy.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { addMember, changeMemberRole, listMembers, removeMember } from "../lib/orgs/memberships.ts";
import {
  createOrganization,
  findOrganization,
  listOrganizationsOf,
  updateOrganization,
} from "../lib/orgs/organizations.ts";

const BODY_BYTES = 4 * 1024;

// Users count per account and keys per key; a route for signed-in users only has no key to count by.
const USER_READS: readonly RateLimitRule[] = [{ name: "per-user", limit: 300, window: "1m", scope: "user" }];
const READS: readonly RateLimitRule[] = [...USER_READS, { name: "per-key", limit: 600, window: "1m", scope: "key" }];
const USER_WRITES: readonly RateLimitRule[] = [{ name: "per-user", limit: 60, window: "1m", scope: "user" }];
const WRITES: readonly RateLimitRule[] = [...USER_WRITES, { name: "per-key", limit: 60, window: "1m", scope: "key" }];

const CREATE_ORG: RoutePolicy = {
  access: "user",
  rateLimits: [{ name: "create", limit: 10, window: "1m", scope: "user" }],
  bodyLimitBytes: BODY_BYTES,
  timeout: "write",
};
const LIST_MY_ORGS: RoutePolicy = { access: "user", rateLimits: USER_READS, bodyLimitBytes: 0, timeout: "read" };
const READ_ORG: RoutePolicy = {
  access: "user-or-key",
  org: { param: "orgId", role: "member" },
  scopes: ["orgs:read"],
  rateLimits: READS,
  bodyLimitBytes: 0,
  timeout: "read",
};
const UPDATE_ORG: RoutePolicy = {
  access: "user-or-key",
  org: { param: "orgId", role: "admin" },
  scopes: ["orgs:write"],
  rateLimits: WRITES,
  bodyLimitBytes: BODY_BYTES,
  timeout: "write",
};
const LIST_MEMBERS: RoutePolicy = READ_ORG;
const CHANGE_MEMBERS: RoutePolicy = {
  access: "user",
  org: { param: "orgId", role: "admin" },
  rateLimits: USER_WRITES,
  bodyLimitBytes: BODY_BYTES,
  timeout: "write",
};
// Any member may leave; removing someone else needs an admin (checked under the org lock).
const REMOVE_MEMBER: RoutePolicy = { ...CHANGE_MEMBERS, org: { param: "orgId", role: "member" }, bodyLimitBytes: 0 };

const orgName = type("string.trim").to("1 <= string <= 100");
const maxAgeDays = type("1 <= number.integer <= 3650");
const role = type.enumerated(...ORG_ROLES);
const emailAddress = type("string").pipe(normaliseEmail).to(`string.email <= ${MAX_EMAIL_LENGTH}`);

const orgParams = type({ orgId: "string.uuid" });
const memberParams = type({ orgId: "string.uuid", userId: "string.uuid" });
const createOrgBody = type({ "+": "reject", name: orgName, "apiKeyMaxAgeDays?": maxAgeDays.or("null") });
const updateOrgBody = type({ "+": "reject", "name?": orgName, "apiKeyMaxAgeDays?": maxAgeDays.or("null") });
const addMemberBody = type({ "+": "reject", userId: "string.uuid", role }).or({
  "+": "reject",
  email: emailAddress,
  role,
});
const roleBody = type({ "+": "reject", role });

export default defineRouteGroup("orgs", (runtime) =>
  new Elysia({ name: "orgs" })
    .use(policyPlugin)
    .post(
      "/v1/orgs",
      async ({ body, request, set }) => {
        const org = await createOrganization(runtime, signedInUserOf(request).userId, body, request);
        set.status = 201;
        return { ...org, role: "owner" };
      },
      { policy: CREATE_ORG, body: createOrgBody },
    )
    .get(
      "/v1/orgs",
      async ({ request }) => ({ orgs: await listOrganizationsOf(runtime.db.primary, signedInUserOf(request).userId) }),
      { policy: LIST_MY_ORGS },
    )
    .get(
      "/v1/orgs/:orgId",
      async ({ params }) => {
        const org = await findOrganization(runtime.db.primary, params.orgId);
        if (org === undefined) throw orgNotFound();
        return org;
      },
      { policy: READ_ORG, params: orgParams },
    )
    .patch(
      "/v1/orgs/:orgId",
      async ({ body, params, request }) => {
        if (Object.keys(body).length === 0)
          throw new AppError("VALIDATION_FAILED", "Name at least one field to change.");
        const org = await updateOrganization(
          runtime,
          auditActorOf(authenticatedCallerOf(request)),
          params.orgId,
          body,
          request,
        );
        if (org === undefined) throw orgNotFound();
        return org;
      },
      { policy: UPDATE_ORG, params: orgParams, body: updateOrgBody },
    )
    .get(
      "/v1/orgs/:orgId/members",
      async ({ params }) => ({ members: await listMembers(runtime.db.primary, params.orgId) }),
      { policy: LIST_MEMBERS, params: orgParams },
    )
    .post(
      "/v1/orgs/:orgId/members",
      async ({ body, params, request, set }) => {
        const member = await addMember(runtime, signedInUserOf(request).userId, params.orgId, body, request);
        set.status = 201;
        return member;
      },
      { policy: CHANGE_MEMBERS, params: orgParams, body: addMemberBody },
    )
    .patch(
      "/v1/orgs/:orgId/members/:userId",
      async ({ body, params, request }) => {
        return changeMemberRole(
          runtime,
          signedInUserOf(request).userId,
          params.orgId,
          params.userId,
          body.role,
          request,
        );
      },
      { policy: CHANGE_MEMBERS, params: memberParams, body: roleBody },
    )
    .delete(
      "/v1/orgs/:orgId/members/:userId",
      async ({ params, request, set }) => {
        await removeMember(runtime, signedInUserOf(request).userId, params.orgId, params.userId, request);
        set.status = 204;
      },
      { policy: REMOVE_MEMBER, params: memberParams },
    ),
);
