/** Who made an admin call, as the audit trail and the records admin changes keep name them. */
import { requestContextOf } from "../core/request-context.ts";
import type { AuditEvent } from "./audit-log.ts";

/** The operator who made an admin call, or the holder of ADMIN_TOKEN. */
export function adminActorOf(request: Request): AuditEvent["actor"] & { id: string } {
  const caller = requestContextOf(request).caller;
  return caller?.kind === "user" ? { type: "user", id: caller.userId } : { type: "admin", id: "admin" };
}

/** The same, as one string for logs and the records it is kept in (settings versions, IP blocks). */
export function adminActorName(request: Request): string {
  const actor = adminActorOf(request);
  return actor.type === "user" ? `user:${actor.id}` : actor.id;
}
