/**
 * Accounts. E-mail is stored normalised (trimmed, lower-cased) and unique; a platform role besides any role in
 * organizations.
 */
import { sql } from "drizzle-orm";
import { boolean, check, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const users = pgTable(
  "users",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    email: text("email").notNull().unique(),
    passwordHash: text("password_hash").notNull(),
    disabled: boolean("disabled").notNull().default(false),
    /** "operator": may call the admin routes with the user's own access token. */
    platformRole: text("platform_role", { enum: ["user", "operator"] })
      .notNull()
      .default("user"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    passwordChangedAt: timestamp("password_changed_at", { withTimezone: true }).notNull().defaultNow(),
    /** When the owner last proved they receive mail at `email`; null until then, and again after a change. */
    emailVerifiedAt: timestamp("email_verified_at", { withTimezone: true }),
  },
  (table) => [check("users_platform_role_check", sql`${table.platformRole} in ('user', 'operator')`)],
);
