/**
 * Reading the audit log: an organization's own events for its admins (or its keys holding `audit:read`),
 * and every organization's for the operator. Newest first, paginated by a cursor on the event id.
 */
import { Elysia } from "elysia";
import { type AuditFilters, auditDateFilter, MAX_AUDIT_PAGE_SIZE, queryAuditEvents } from "../lib/audit/audit-query.ts";
import { orgAuditTag } from "../lib/cache/cache-tags.ts";
import { type Arktype, lazySchema } from "../lib/core/lazy-schema.ts";
import { orgCache } from "../lib/core/policy-presets.ts";
import type { AccessPolicy, UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

const ORG_AUDIT: AccessPolicy = {
  scopes: ["audit:read"],
  rateLimits: [
    { name: "per-user", limit: 120, window: "1m", scope: "user" },
    { name: "per-key", limit: 120, window: "1m", scope: "key" },
  ],
  bodyLimitBytes: 0,
  timeout: "read",
};
const ADMIN_AUDIT: UserPolicy = {
  rateLimits: [{ name: "admin-audit", limit: 120, window: "1m", scope: "ip" }],
  bodyLimitBytes: 0,
  timeout: "read",
};

const filters = (ark: Arktype) =>
  ({
    "+": "reject",
    "action?": "0 < string <= 100",
    "actor?": "0 < string <= 100",
    "since?": auditDateFilter(ark),
    "until?": auditDateFilter(ark),
    "cursor?": ark.type("string.integer.parse").to("number > 0"),
    "limit?": ark.type("string.integer.parse").to(`1 <= number <= ${MAX_AUDIT_PAGE_SIZE}`),
  }) as const;
const orgAuditQuery = lazySchema((ark) => ark.type(filters(ark)));
const adminAuditQuery = lazySchema((ark) => ark.type({ ...filters(ark), "orgId?": "string.uuid" }));
const orgParams = lazySchema(({ type }) => type({ orgId: "string.uuid" }));

export default defineRouteGroup("audit", (runtime) =>
  new Elysia({ name: "audit" })
    .use(policyPlugin)
    .get(
      "/v1/orgs/:orgId/audit",
      ({ org, query }) => {
        const search: AuditFilters = { ...query, orgId: org.id };
        return queryAuditEvents(runtime.db, search);
      },
      {
        userOrKey: { ...ORG_AUDIT, cache: orgCache((id) => [orgAuditTag(id)]) },
        org: { param: "orgId", role: "admin" },
        params: orgParams,
        query: orgAuditQuery,
      },
    )
    .get("/admin/audit", ({ query }) => queryAuditEvents(runtime.db, query), {
      admin: ADMIN_AUDIT,
      query: adminAuditQuery,
    }),
);
