/**
 * What valid settings are, and how a partial change merges over them. Unknown keys are refused at
 * every level, so a typo in a patch fails loudly instead of being stored and ignored.
 */
import { type } from "arktype";
import type { SettingsBody } from "./settings.ts";

export interface SettingsIssue {
  path: string;
  message: string;
}

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

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

// Sections that are maps rather than records of fields: a patch replaces them, or no entry could be removed.
const REPLACED_WHOLE = new Set(["rateLimitOverrides"]);

/** Merges each section of `patch` field by field over `current`; the result is unchecked until `checkSettings`. */
export function mergeSettings(current: SettingsBody, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const sections = current as unknown as Record<string, unknown>;
  // Object.fromEntries and spreads define own properties, so a "__proto__" key stays a key and fails the schema.
  const merged = Object.fromEntries(
    Object.entries(patch).map(([section, value]) => {
      const base = sections[section];
      return [
        section,
        !REPLACED_WHOLE.has(section) && isPlainObject(base) && isPlainObject(value) ? { ...base, ...value } : value,
      ];
    }),
  );
  return { ...current, ...merged };
}

/** Checks a candidate against the schema; the issues never echo the received values. */
export function checkSettings(
  candidate: unknown,
): { ok: true; settings: SettingsBody } | { ok: false; issues: SettingsIssue[] } {
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
