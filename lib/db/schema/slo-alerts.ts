/** SLO alert state, one row per (SLO, severity), and the notifications of its changes waiting to be delivered. */
import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const sloAlerts = pgTable(
  "slo_alerts",
  {
    slo: text("slo").notNull(),
    severity: text("severity", { enum: ["page", "ticket"] }).notNull(),
    state: text("state", { enum: ["firing", "resolved"] }).notNull(),
    /** When the current state began. */
    since: timestamp("since", { withTimezone: true }).notNull(),
    /** Stable per (SLO, severity), so a resolve closes the incident its trigger opened. */
    dedupKey: text("dedup_key").notNull(),
    /** While firing: the first evaluation since which no rule held; it resolves after a quiet period. */
    clearSince: timestamp("clear_since", { withTimezone: true }),
    /** The rule that fired it and the burn rates then. */
    details: jsonb("details").notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.slo, t.severity] })],
);

export const sloAlertNotifications = pgTable(
  "slo_alert_notifications",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    channel: text("channel", { enum: ["slack", "pagerduty", "webhook"] }).notNull(),
    dedupKey: text("dedup_key").notNull(),
    event: text("event", { enum: ["firing", "resolved"] }).notNull(),
    /** The alert as it changed (AlertChange); the channel's message is built from it when sent. No secrets. */
    alert: jsonb("alert").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true }).notNull(),
    deliveredAt: timestamp("delivered_at", { withTimezone: true }),
    /** Set once the attempts are exhausted: the notification is dropped, and logged. */
    abandonedAt: timestamp("abandoned_at", { withTimezone: true }),
    lastError: text("last_error"),
  },
  (t) => [
    index("slo_alert_notifications_pending_idx")
      .on(t.createdAt)
      .where(sql`delivered_at is null and abandoned_at is null`),
  ],
);
