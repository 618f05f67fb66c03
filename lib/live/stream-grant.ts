/**
 * Who a stream was opened for, and whether that still holds: a stream outlives the request that opened it, so
 * its session (or key) and membership are checked again while it runs.
 */
import { and, eq, gt, isNull, or } from "drizzle-orm";
import type { IdentityServices } from "../auth/identity.ts";
import type { Caller } from "../core/caller.ts";
import type { Db } from "../db/database.ts";
import { apiKeys, memberships } from "../db/schema/index.ts";

/** A user's session or an organization's API key, bound to one organization. */
export type StreamGrant =
  | { readonly kind: "user"; readonly userId: string; readonly sessionId: string; readonly orgId: string }
  | { readonly kind: "api_key"; readonly keyId: string; readonly orgId: string };

export function grantOf(caller: Caller, orgId: string): StreamGrant {
  return caller.kind === "user"
    ? { kind: "user", userId: caller.userId, sessionId: caller.sessionId, orgId }
    : { kind: "api_key", keyId: caller.keyId, orgId };
}

/** Whether the session is live and its user still a member, or the key unrevoked, in its grace and unexpired. */
export async function isGrantLive(db: Db, identity: IdentityServices, grant: StreamGrant, nowMs: number) {
  const now = new Date(nowMs);
  if (grant.kind === "user") {
    if (await identity.revocations.isRevoked(grant.sessionId)) return false;
    const [member] = await db
      .select({ role: memberships.role })
      .from(memberships)
      .where(and(eq(memberships.orgId, grant.orgId), eq(memberships.userId, grant.userId)));
    return member !== undefined;
  }
  const [key] = await db
    .select({ id: apiKeys.id })
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.id, grant.keyId),
        eq(apiKeys.orgId, grant.orgId),
        isNull(apiKeys.revokedAt),
        or(isNull(apiKeys.graceEndsAt), gt(apiKeys.graceEndsAt, now)),
        or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, now)),
      ),
    );
  return key !== undefined;
}
