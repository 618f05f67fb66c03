/**
 * Accounts at OpenID Connect providers linked to local users, keyed by what the provider says is stable (its
 * issuer and the subject it names the user by), never by e-mail: a provider's e-mail can change hands.
 */
import { index, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { users } from "./users.ts";

export const oidcIdentities = pgTable(
  "oidc_identities",
  {
    /** The provider's issuer identifier (`iss`), or https://github.com for GitHub's OAuth. */
    issuer: text("issuer").notNull(),
    /** The provider's `sub` (GitHub: the numeric user id). */
    subject: text("subject").notNull(),
    /** The configured provider id (`google`, `github`, …) it was linked through. */
    provider: text("provider").notNull(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The e-mail address the provider gave at the last sign-in, for the audit trail only. */
    email: text("email"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    lastSignInAt: timestamp("last_sign_in_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.issuer, t.subject] }), index("oidc_identities_user_idx").on(t.userId)],
);
