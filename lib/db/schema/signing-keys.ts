/** JWT signing keys and their rotation states; private keys are stored encrypted (lib/crypto). */
import { pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const signingKeys = pgTable("signing_keys", {
  kid: text("kid").primaryKey(),
  algorithm: text("algorithm").notNull(),
  state: text("state", { enum: ["next", "current", "retiring", "retired"] }).notNull(),
  publicJwk: text("public_jwk").notNull(),
  privateKeyCiphertext: text("private_key_ciphertext").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  activatedAt: timestamp("activated_at", { withTimezone: true }),
  retiringAt: timestamp("retiring_at", { withTimezone: true }),
  retiredAt: timestamp("retired_at", { withTimezone: true }),
});
