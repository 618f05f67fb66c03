/** Uploaded files: each organization's storage counters (the quota) and one row per upload, named by its content. */
import { bigint, index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { organizations } from "./organizations.ts";

/** Reserved bytes are counted before the bytes arrive, so concurrent reservations can never pass the quota. */
export const orgStorage = pgTable("org_storage", {
  orgId: uuid("org_id")
    .primaryKey()
    .references(() => organizations.id, { onDelete: "cascade" }),
  quotaBytes: bigint("quota_bytes", { mode: "number" }).notNull(),
  usedBytes: bigint("used_bytes", { mode: "number" }).notNull().default(0),
  reservedBytes: bigint("reserved_bytes", { mode: "number" }).notNull().default(0),
});

export const UPLOAD_STATUSES = ["pending", "ready", "rejected", "expired"] as const;

export const uploads = pgTable(
  "uploads",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    /** `orgs/<orgId>/<sha256 hex>`: the same content is stored once, and no name reaches the bucket. */
    objectKey: text("object_key").notNull(),
    /** Base64, as S3's x-amz-checksum-sha256. */
    sha256: text("sha256").notNull(),
    filename: text("filename").notNull(),
    contentType: text("content_type").notNull(),
    size: bigint("size", { mode: "number" }).notNull(),
    status: text("status", { enum: UPLOAD_STATUSES }).notNull().default("pending"),
    /** The error code a rejected upload was refused with. */
    rejectedCode: text("rejected_code"),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    /** A pending upload past this is expired by `expire-uploads` and its reservation released. */
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    completedAt: timestamp("completed_at", { withTimezone: true }),
  },
  (t) => [
    index("uploads_org_idx").on(t.orgId, t.createdAt),
    index("uploads_key_idx").on(t.objectKey),
    index("uploads_pending_idx").on(t.status, t.expiresAt),
  ],
);
