/** Roles in an organization, ranked owner > admin > member, and the organization a route is bound to. */
export const ORG_ROLES = ["owner", "admin", "member"] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

const ROLE_RANK: Readonly<Record<OrgRole, number>> = { member: 1, admin: 2, owner: 3 };

export type OrgAccess = { kind: "user"; userId: string; role: OrgRole } | { kind: "api_key"; keyId: string };

/** The organization a route with tenant binding acts on, and how the caller may act there. */
export interface BoundOrg {
  readonly id: string;
  readonly access: OrgAccess;
}

export function roleAtLeast(role: OrgRole, minimum: OrgRole): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[minimum];
}
