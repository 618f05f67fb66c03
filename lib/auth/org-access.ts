/**
 * Who may act on an organization. A user needs a membership of at least the route's role (owner > admin >
 * member); an API key acts only on its own organization, authorised there by its scopes. Anyone else gets
 * 404, never 403, so no tenant can learn whether another tenant's organization or objects exist.
 */
import { and, eq } from "drizzle-orm";
import type { Caller } from "../core/caller.ts";
import { type OrgAccess, type OrgRole, roleAtLeast } from "../core/org-roles.ts";
import { memberships } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";
import type { IdentityRuntime } from "./identity.ts";

/** The one answer for "no such organization" and "not yours": they must not be told apart. */
export const orgNotFound = () => new AppError("NOT_FOUND", "No such organization.");

/**
 * `notFound` is what the route answers for a missing object: a route naming an object by its id alone
 * (a key to rotate) must answer "not yours" exactly as it answers "no such key".
 */
export async function requireOrgRole(
  runtime: IdentityRuntime,
  caller: Caller,
  orgId: string,
  minimumRole: OrgRole,
  notFound: () => AppError = orgNotFound,
): Promise<OrgAccess> {
  if (caller.kind === "api_key") {
    if (caller.orgId !== orgId) throw notFound();
    return { kind: "api_key", keyId: caller.keyId };
  }
  const [membership] = await runtime.db.primary
    .select({ role: memberships.role })
    .from(memberships)
    .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, caller.userId)));
  if (membership === undefined) throw notFound();
  // A member already knows the organization exists, so a missing role can be said plainly.
  if (!roleAtLeast(membership.role, minimumRole))
    throw new AppError("FORBIDDEN", `This needs the ${minimumRole} role in the organization.`);
  return { kind: "user", userId: caller.userId, role: membership.role };
}
