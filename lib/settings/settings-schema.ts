/**
 * What valid settings are, as arktype's schema of record: the admin's PATCH body and its merged result are
 * checked here. Unknown keys are refused at every level, so a typo in a patch fails loudly instead of being
 * stored and ignored. Stored settings are checked by settings-check.ts, which settings-check.test.ts holds to this.
 */
import { type } from "arktype";
import type { SettingsCheck } from "./settings-check.ts";

// Exact origins only: no wildcard (which URL accepts as a host), no path, no "null".
const ORIGIN_SHAPE = /^https?:\/\/([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/;
const origin = type("string").narrow(
  (value, ctx) =>
    (ORIGIN_SHAPE.test(value) && URL.canParse(value) && new URL(value).origin === value) ||
    ctx.mustBe("a full origin like https://app.example.com"),
);
const milliseconds = "1 <= number.integer <= 86400000";

const corsSchema = type({
  "+": "reject",
  origins: origin.array(),
  credentials: "boolean",
  maxAgeSeconds: "0 <= number.integer <= 86400",
});
const emergencySchema = type({
  "+": "reject",
  enabled: "boolean",
  limitDivisor: "1 <= number.integer <= 1000",
  blockThreshold: "1 <= number.integer <= 1000000",
});
const blockingSchema = type({
  "+": "reject",
  threshold: "1 <= number.integer <= 1000000",
  windowMs: milliseconds,
  blockMs: "1 <= number.integer <= 31536000000",
});
const timeoutsSchema = type({
  "+": "reject",
  read: milliseconds,
  write: milliseconds,
  auth: milliseconds,
  cron: milliseconds,
});
const rateLimitRuleSchema = type({
  "+": "reject",
  name: "0 < string <= 64",
  limit: "1 <= number.integer <= 100000000",
  windowMs: milliseconds,
  "algorithm?": "'fixed-window' | 'sliding-window'",
  scope: "'ip' | 'user' | 'org' | 'key' | 'email'",
  "onStoreFailure?": "'open' | 'closed'",
  "acrossRoutes?": "boolean",
});
// Keyed by a route path prefix such as "/v1/auth".
const rateLimitOverridesSchema = type({ "+": "reject", "[/^\\//]": rateLimitRuleSchema.array() });

export const settingsSchema = type({
  "+": "reject",
  cors: corsSchema,
  emergency: emergencySchema,
  blocking: blockingSchema,
  timeoutsMs: timeoutsSchema,
  rateLimitOverrides: rateLimitOverridesSchema,
});

/** A PATCH body: any section, any of its fields; the merged result is checked against `settingsSchema`. */
export const settingsPatchSchema = type({
  "+": "reject",
  "cors?": corsSchema.partial(),
  "emergency?": emergencySchema.partial(),
  "blocking?": blockingSchema.partial(),
  "timeoutsMs?": timeoutsSchema.partial(),
  "rateLimitOverrides?": rateLimitOverridesSchema,
});

/** Checks a candidate against the schema; the issues never echo the received values. */
export function checkSettings(candidate: unknown): SettingsCheck {
  const result = settingsSchema(candidate);
  if (result instanceof type.errors) {
    return {
      ok: false,
      issues: result.map((error) => ({
        path: error.path.join("."),
        message: error.message.replace(/ \(was .*\)$/s, ""),
      })),
    };
  }
  return { ok: true, settings: result };
}
