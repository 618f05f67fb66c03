/**
 * Tenant binding: a route declaring `org` acts only on the organization its path names, for a member of
 * at least the declared role or for that organization's own key (lib/auth/org-access.ts says why 404).
 */
import { type BoundOrg, requireOrgRole } from "../auth/org-access.ts";
import type { Caller } from "../auth/caller.ts";
import { AppError } from "../errors/app-error.ts";
import type { RouteEntry } from "../http/route-table.ts";
import type { Runtime } from "../runtime/runtime.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type OrgBinder = (route: RouteEntry, path: string, caller: Caller | undefined) => Promise<BoundOrg>;

export function createOrgBinder(runtime: Runtime): OrgBinder {
  return async (route, path, caller) => {
    const binding = route.policy.org;
    const id = route.orgSegment === undefined ? undefined : path.split("/")[route.orgSegment];
    if (binding === undefined || id === undefined) throw new Error(`route ${route.key} has no organization to bind`);
    if (caller === undefined) throw new AppError("UNAUTHORIZED");
    // Checked before the database sees it, with the answer the route's params schema would give.
    if (!UUID.test(id)) throw new AppError("VALIDATION_FAILED", undefined, { fields: [{ path: binding.param, message: `${binding.param} must be a UUID` }] });
    return { id, access: await requireOrgRole(runtime, caller, id, binding.role) };
  };
}
