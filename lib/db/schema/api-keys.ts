/** Organization API keys, stored only as SHA-256 hashes with a short visible prefix, and the customers they serve. */
import { boolean, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { organizations } from "./organizations.ts";
import { users } from "./users.ts";

/**
 * Usage credits, on a key or on an identity: Redis holds the live count (lib/auth/usage-credits.ts); these
 * columns seed it and are written behind it. `credits_version` grows with every owner's change, so a newer
 * setting replaces the live count and a late write-behind of an older one is ignored.
 */
const creditColumns = () => ({
  creditsRemaining: integer("credits_remaining"),
  creditsRefillAmount: integer("credits_refill_amount"),
  creditsRefillInterval: text("credits_refill_interval").$type<"daily" | "monthly">(),
  /** The refill period (day or month number) `credits_remaining` belongs to. */
  creditsPeriod: integer("credits_period").notNull().default(0),
  creditsVersion: integer("credits_version").notNull().default(0),
});

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
    /** The owner's JSON, returned on verification. */
    meta: jsonb("meta").$type<Record<string, unknown>>(),
    /** A disabled key is refused like an unknown one, and can be enabled again (revoking cannot be undone). */
    enabled: boolean("enabled").notNull().default(true),
    /** The customer the key was issued to, in the owner's own terms; keys of one share its identity's limits. */
    externalId: text("external_id"),
    ...creditColumns(),
  },
  (t) => [index("api_keys_org_idx").on(t.orgId), index("api_keys_external_idx").on(t.orgId, t.externalId)],
);

/** One customer of an organization (`externalId`), whose keys share its named rate limits and credits. */
export const keyIdentities = pgTable(
  "key_identities",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orgId: uuid("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    externalId: text("external_id").notNull(),
    meta: jsonb("meta").$type<Record<string, unknown>>(),
    /** Named limits every key of the identity counts against together: `[{ name, limit, windowMs }]`. */
    rateLimits: jsonb("rate_limits").$type<{ name: string; limit: number; windowMs: number }[]>().notNull().default([]),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    ...creditColumns(),
  },
  (t) => [uniqueIndex("key_identities_org_external_idx").on(t.orgId, t.externalId)],
);
