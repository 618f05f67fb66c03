/** Organization API keys, stored only as SHA-256 hashes with a short visible prefix. */
import { index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { organizations } from "./organizations.ts";
import { users } from "./users.ts";

export const apiKeys = pgTable(
  "api_keys",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    keyHash: text("key_hash").notNull().unique(),
    visiblePrefix: text("visible_prefix").notNull(),
    scopes: jsonb("scopes").$type<string[]>().notNull(),
    rateLimitPerMinute: integer("rate_limit_per_minute"),
    createdBy: uuid("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    revokedAt: timestamp("revoked_at", { withTimezone: true }),
    /** Set on the old key when it is rotated: it keeps working until then. */
    graceEndsAt: timestamp("grace_ends_at", { withTimezone: true }),
    replacedBy: uuid("replaced_by"),
    lastUsedAt: timestamp("last_used_at", { withTimezone: true }),
    flaggedAt: timestamp("flagged_at", { withTimezone: true }),
  },
  (t) => [index("api_keys_org_idx").on(t.orgId)],
);
