/** Outbound webhooks: an organization's endpoints, their signing secrets (encrypted), the outbox and its attempts. */
import { bigint, bigserial, index, integer, jsonb, pgTable, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";
import { organizations } from "./organizations.ts";

export const webhookEndpoints = pgTable(
  "webhook_endpoints",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    url: text("url").notNull(),
    eventTypes: text("event_types").array().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    disabledAt: timestamp("disabled_at", { withTimezone: true }),
    /** Why it was disabled: by an admin, a 410 answer, or continuous failure. */
    disabledReason: text("disabled_reason"),
    /** The first failure since the last success; five days of it disable the endpoint. */
    failingSince: timestamp("failing_since", { withTimezone: true }),
  },
  (t) => [index("webhook_endpoints_org_idx").on(t.orgId)],
);

export const webhookEndpointSecrets = pgTable(
  "webhook_endpoint_secrets",
  {
    // Text, so the re-encryption job can page through it by id like every other encrypted column.
    id: text("id")
      .primaryKey()
      .$defaultFn(() => crypto.randomUUID()),
    endpointId: uuid("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    secretCiphertext: text("secret_ciphertext").notNull(),
    notBefore: timestamp("not_before", { withTimezone: true }).notNull(),
    /** Set on the old secret by a rotation: deliveries stop carrying its signature from then on. */
    notAfter: timestamp("not_after", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("webhook_endpoint_secrets_endpoint_idx").on(t.endpointId)],
);

/** The outbox: written in the transaction of the change it reports. */
export const webhookMessages = pgTable(
  "webhook_messages",
  {
    id: text("id").primaryKey(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    eventType: text("event_type").notNull(),
    payload: jsonb("payload").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    /** The event's number within its organization: dense and in commit order (org_event_sequences). */
    seq: bigint("seq", { mode: "number" }),
  },
  (t) => [
    index("webhook_messages_org_idx").on(t.orgId, t.createdAt),
    unique("webhook_messages_org_seq_key").on(t.orgId, t.seq),
  ],
);

/**
 * The last event number of each organization. Taking the next one locks the row until the transaction ends,
 * so an organization's events commit in number order and a reader that sees number n sees every lower one.
 */
export const orgEventSequences = pgTable("org_event_sequences", {
  orgId: uuid("org_id")
    .primaryKey()
    .references(() => organizations.id, { onDelete: "cascade" }),
  lastSeq: bigint("last_seq", { mode: "number" }).notNull(),
});

export const WEBHOOK_ATTEMPT_STATUSES = ["pending", "sending", "success", "failed", "exhausted", "cancelled"] as const;

export const webhookAttempts = pgTable(
  "webhook_attempts",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    messageId: text("message_id")
      .notNull()
      .references(() => webhookMessages.id, { onDelete: "cascade" }),
    endpointId: uuid("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    status: text("status", { enum: WEBHOOK_ATTEMPT_STATUSES }).notNull().default("pending"),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true }).notNull(),
    claimedUntil: timestamp("claimed_until", { withTimezone: true }),
    attemptedAt: timestamp("attempted_at", { withTimezone: true }),
    httpStatus: integer("http_status"),
    durationMs: integer("duration_ms"),
    /** At most 1 KiB of the answer, or why no answer came. */
    responseExcerpt: text("response_excerpt"),
  },
  (t) => [
    unique("webhook_attempts_message_endpoint_attempt_key").on(t.messageId, t.endpointId, t.attempt),
    index("webhook_attempts_due_idx").on(t.status, t.nextAttemptAt),
  ],
);
