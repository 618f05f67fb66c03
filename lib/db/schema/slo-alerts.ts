/**
 * SLO alert state, one row per (SLO, severity), the channels operators stored (secrets encrypted), and the
 * notifications of its changes waiting to be delivered.
 */
import { sql } from "drizzle-orm";
import { boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const SLO_ALERT_CHANNEL_KINDS = ["slack", "pagerduty", "webhook"] as const;

export const sloAlertChannels = pgTable("slo_alert_channels", {
  // Text, so the re-encryption job can page through it by id like every other encrypted column.
  id: text("id")
    .primaryKey()
    .$defaultFn(() => crypto.randomUUID()),
  kind: text("kind", { enum: SLO_ALERT_CHANNEL_KINDS }).notNull(),
  /** The Slack incoming webhook URL, the PagerDuty routing key or the whsec_ secret, sealed and bound to the row. */
  secretCiphertext: text("secret_ciphertext").notNull(),
  /** The last characters of the secret, so operators can tell channels apart; never more. */
  secretHint: text("secret_hint").notNull(),
  /** Where it is sent when that is not the secret: the PagerDuty events URL, the operator's webhook URL. */
  url: text("url"),
  enabled: boolean("enabled").notNull().default(true),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull(),
});

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
    channel: text("channel", { enum: SLO_ALERT_CHANNEL_KINDS }).notNull(),
    /** The stored channel it goes to; null for the channel of that kind configured by environment variables. */
    channelId: text("channel_id").references(() => sloAlertChannels.id, { onDelete: "cascade" }),
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
