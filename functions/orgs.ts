/**
 * Organizations and their members. Reads and settings are open to the org's API keys by scope; member
 * changes need a signed-in admin, so a leaked key cannot grant anyone a role that outlives its revocation.
 */
import { Elysia } from "elysia";
import { auditActorOf } from "../lib/audit/audit-log.ts";
import { orgNotFound } from "../lib/auth/org-access.ts";
import { MAX_EMAIL_LENGTH, normaliseEmail } from "../lib/auth/password-policy.ts";
import { requireVerifiedEmail } from "../lib/auth/require-verified-email.ts";
import { orgMembersTag, orgTag } from "../lib/cache/cache-tags.ts";
import { type Arktype, lazySchema } from "../lib/core/lazy-schema.ts";
import { ORG_ROLES } from "../lib/core/org-roles.ts";
import { orgCache, perKey, perUser, READ, WRITE, WRITE_NO_BODY } from "../lib/core/policy-presets.ts";
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
import { createFirstAttemptSender } from "../lib/webhooks/first-attempts.ts";
import type { OutboundDeliveryOptions } from "../lib/webhooks/outbound-delivery.ts";

// Users count per account and keys per key; a route for signed-in users only has no key to count by.
const READS = [perUser(300, "1m"), perKey(600, "1m")];
const WRITES = [perUser(60, "1m"), perKey(60, "1m")];

const READ_ORG = {
  // Renames purge the record: its entries live a tenth of the interval between them, from 5 s to 10 min.
  userOrKey: {
    ...READ,
    scopes: ["orgs:read"],
    rateLimits: READS,
    cache: orgCache((id) => [orgTag(id)], { min: "5s", max: "10m" }),
  },
  org: "orgId",
} as const;
const READ_MEMBERS = {
  userOrKey: { ...READ_ORG.userOrKey, cache: orgCache((id) => [orgMembersTag(id)]) },
  org: "orgId",
} as const;
const UPDATE_ORG = {
  userOrKey: { ...WRITE, scopes: ["orgs:write"], rateLimits: WRITES },
  org: { param: "orgId", role: "admin" },
} as const;
// Already a member; the last owner cannot be demoted or removed.
const CHANGE_MEMBERS = {
  user: { ...WRITE, rateLimits: [perUser(60, "1m")], errors: ["CONFLICT"] },
  org: { param: "orgId", role: "admin" },
} as const;

// Fragments of the schemas below, built with them on the first request that validates.
const orgName = ({ type }: Arktype) => type("string.trim").to("1 <= string <= 100");
const maxAgeDays = ({ type }: Arktype) => type("1 <= number.integer <= 3650").or("null");
const role = ({ type }: Arktype) => type.enumerated(...ORG_ROLES);
const emailAddress = ({ type }: Arktype) =>
  type("string").pipe(normaliseEmail).to(`string.email <= ${MAX_EMAIL_LENGTH}`);

const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));
const memberParams = lazySchema(({ type }) => type({ orgId: "string.uuid", userId: "string.uuid" }));
const createOrgBody = lazySchema((ark) =>
  ark.type({ "+": "reject", name: orgName(ark), "apiKeyMaxAgeDays?": maxAgeDays(ark) }),
);
const updateOrgBody = lazySchema((ark) =>
  ark.type({ "+": "reject", "name?": orgName(ark), "apiKeyMaxAgeDays?": maxAgeDays(ark) }),
);
const addMemberBody = lazySchema((ark) =>
  ark
    .type({ "+": "reject", userId: "string.uuid", role: role(ark) })
    .or({ "+": "reject", email: emailAddress(ark), role: role(ark) }),
);
const roleBody = lazySchema((ark) => ark.type({ "+": "reject", role: role(ark) }));

/** The routes; `outbound` configures the first attempts of the webhooks a change sends (tests allow loopback). */
export function orgRoutes(outbound: Partial<OutboundDeliveryOptions> = {}) {
  return defineRouteGroup("orgs", (runtime) => {
    const sendFirstAttempts = createFirstAttemptSender(runtime, outbound);
    return new Elysia({ name: "orgs" })
      .use(policyPlugin)
      .post(
        "/v1/orgs",
        async ({ body, request, set, user }) => {
          await requireVerifiedEmail(runtime, user.userId);
          const org = await createOrganization(runtime, user.userId, body, request);
          set.status = 201;
          return { ...org, role: "owner" };
        },
        {
          user: { ...WRITE, rateLimits: [perUser(10, "1m", { name: "create" })], errors: ["EMAIL_NOT_VERIFIED"] },
          body: createOrgBody,
        },
      )
      .get(
        "/v1/orgs",
        async ({ user }) => ({ orgs: await runtime.db.read((db) => listOrganizationsOf(db, user.userId)) }),
        {
          user: { ...READ, rateLimits: [perUser(300, "1m")] },
        },
      )
      .get(
        "/v1/orgs/:orgId",
        async ({ org: bound }) => {
          const org = await runtime.db.read((db) => findOrganization(db, bound.id));
          if (org === undefined) throw orgNotFound();
          return org;
        },
        { ...READ_ORG, params: orgParams },
      )
      .patch(
        "/v1/orgs/:orgId",
        async ({ body, caller, org: bound, request }) => {
          if (Object.keys(body).length === 0)
            throw new AppError("VALIDATION_FAILED", "Name at least one field to change.");
          const org = await updateOrganization(runtime, auditActorOf(caller), bound.id, body, request);
          if (org === undefined) throw orgNotFound();
          return org;
        },
        { ...UPDATE_ORG, params: orgParams, body: updateOrgBody },
      )
      .get(
        "/v1/orgs/:orgId/members",
        async ({ org }) => ({ members: await runtime.db.read((db) => listMembers(db, org.id)) }),
        {
          ...READ_MEMBERS,
          params: orgParams,
        },
      )
      .post(
        "/v1/orgs/:orgId/members",
        async ({ body, org, request, set, user }) => {
          const member = await addMember(runtime, user.userId, org.id, body, request);
          sendFirstAttempts(org.id);
          set.status = 201;
          return member;
        },
        { ...CHANGE_MEMBERS, params: orgParams, body: addMemberBody },
      )
      .patch(
        "/v1/orgs/:orgId/members/:userId",
        async ({ body, org, params, request, user }) => {
          const member = await changeMemberRole(runtime, user.userId, org.id, params.userId, body.role, request);
          sendFirstAttempts(org.id);
          return member;
        },
        { ...CHANGE_MEMBERS, params: memberParams, body: roleBody },
      )
      .delete(
        "/v1/orgs/:orgId/members/:userId",
        async ({ org, params, request, set, user }) => {
          await removeMember(runtime, user.userId, org.id, params.userId, request);
          sendFirstAttempts(org.id);
          set.status = 204;
        },
        // Any member may leave; removing someone else needs an admin (checked under the org lock).
        {
          user: { ...WRITE_NO_BODY, rateLimits: [perUser(60, "1m")], errors: ["CONFLICT"] },
          org: "orgId",
          params: memberParams,
        },
      );
  });
}

export default orgRoutes();
