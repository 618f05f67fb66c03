/** Inbound webhooks: an organization's sources, their signing secrets (encrypted) and the inbox of deliveries. */
import { bigserial, customType, index, integer, pgTable, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";
import { organizations } from "./organizations.ts";

// A Buffer, which every driver (postgres.js, Neon, PGlite) sends as bytea.
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
  toDriver: (value) => Buffer.from(value.buffer, value.byteOffset, value.byteLength),
});

export const webhookSources = pgTable(
  "webhook_sources",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: ["standard", "svix", "stripe", "github"] }).notNull(),
    name: text("name").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    disabledAt: timestamp("disabled_at", { withTimezone: true }),
  },
  (t) => [index("webhook_sources_org_idx").on(t.orgId)],
);

export const webhookSourceSecrets = pgTable(
  "webhook_source_secrets",
  {
    // Text, so the re-encryption job can page through it by id like every other encrypted column.
    id: text("id")
      .primaryKey()
      .$defaultFn(() => crypto.randomUUID()),
    sourceId: uuid("source_id")
      .notNull()
      .references(() => webhookSources.id, { onDelete: "cascade" }),
    secretCiphertext: text("secret_ciphertext").notNull(),
    notBefore: timestamp("not_before", { withTimezone: true }).notNull(),
    /** Set on the old secret by a rotation: signatures by it are refused from then on. */
    notAfter: timestamp("not_after", { withTimezone: true }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index("webhook_source_secrets_source_idx").on(t.sourceId)],
);

export const WEBHOOK_INBOX_STATUSES = ["received", "processing", "done", "failed", "dead"] as const;

export const webhookInbox = pgTable(
  "webhook_inbox",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    sourceId: uuid("source_id")
      .notNull()
      .references(() => webhookSources.id, { onDelete: "cascade" }),
    externalId: text("external_id").notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull().defaultNow(),
    signedAt: timestamp("signed_at", { withTimezone: true }),
    /** Read when received (GitHub names it only in a header), so handlers are chosen without the headers. */
    eventType: text("event_type"),
    /** Null once the retention job has pruned it; the id stays, as the replay defence. */
    body: bytea("body"),
    status: text("status", { enum: WEBHOOK_INBOX_STATUSES }).notNull().default("received"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true }).notNull().defaultNow(),
    claimedUntil: timestamp("claimed_until", { withTimezone: true }),
    lastError: text("last_error"),
  },
  (t) => [
    unique("webhook_inbox_source_external_id_key").on(t.sourceId, t.externalId),
    index("webhook_inbox_due_idx").on(t.status, t.nextAttemptAt),
  ],
);
