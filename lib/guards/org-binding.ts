/**
 * Tenant binding: a route declaring `org` acts only on the organization its path names, for a member of
 * at least the declared role or for that organization's own key (lib/auth/org-access.ts says why 404).
 */

import type { IdentityRuntime } from "../auth/identity.ts";
import { requireOrgRole } from "../auth/org-access.ts";
import type { Caller } from "../core/caller.ts";
import type { BoundOrg } from "../core/org-roles.ts";
import type { ResolvedPolicy } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the binder needs of a route: its key, policy and which path segment names the organization. */
export interface BindableRoute {
  readonly key: string;
  readonly policy: ResolvedPolicy;
  readonly orgSegment: number | undefined;
}

export type OrgBinder = (route: BindableRoute, path: string, caller: Caller | undefined) => Promise<BoundOrg>;

export function createOrgBinder(runtime: IdentityRuntime): OrgBinder {
  return async (route, path, caller) => {
    const binding = route.policy.org;
    const id = route.orgSegment === undefined ? undefined : path.split("/")[route.orgSegment];
    if (binding === undefined || id === undefined) throw new Error(`route ${route.key} has no organization to bind`);
    if (caller === undefined) throw new AppError("UNAUTHORIZED");
    // Checked before the database sees it, with the answer the route's params schema would give.
    if (!UUID.test(id))
      throw new AppError("VALIDATION_FAILED", undefined, {
        fields: [{ path: binding.param, message: `${binding.param} must be a UUID` }],
      });
    return { id, access: await requireOrgRole(runtime, caller, id, binding.role) };
  };
}
