/** Who made an admin call, as the audit trail and the records admin changes keep name them. */
import type { Caller } from "../core/caller.ts";
import type { AuditEvent } from "./audit-log.ts";

export type AdminActor = AuditEvent["actor"] & { id: string };

/** The operator who made an admin call (the caller the admin access check admitted), or the holder of ADMIN_TOKEN. */
export function adminActorOf(caller: Caller | undefined): AdminActor {
  return caller?.kind === "user" ? { type: "user", id: caller.userId } : { type: "admin", id: "admin" };
}

/** The same, as one string for logs and the records it is kept in (settings versions, IP blocks). */
export function adminActorName(actor: AdminActor): string {
  return actor.type === "user" ? `user:${actor.id}` : actor.id;
}
