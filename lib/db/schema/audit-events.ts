/** The append-only audit log of security events. Rows are only ever inserted. */
import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const auditEvents = pgTable(
  "audit_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    occurredAt: timestamp("occurred_at", { withTimezone: true }).notNull().defaultNow(),
    action: text("action").notNull(),
    actorType: text("actor_type", { enum: ["user", "api_key", "admin", "system", "anonymous"] }).notNull(),
    actorId: text("actor_id"),
    orgId: uuid("org_id"),
    targetType: text("target_type"),
    targetId: text("target_id"),
    ip: text("ip"),
    userAgent: text("user_agent"),
    requestId: text("request_id"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>(),
  },
  (t) => [index("audit_events_org_time_idx").on(t.orgId, t.occurredAt), index("audit_events_action_idx").on(t.action)],
);
