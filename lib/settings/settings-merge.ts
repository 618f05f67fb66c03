/** How a partial change merges over the settings; checked afterwards, by settings-check.ts or the admin's schema. */
import type { SettingsBody } from "./settings.ts";

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

// Sections that are maps rather than records of fields: a patch replaces them, or no entry could be removed.
const REPLACED_WHOLE = new Set(["rateLimitOverrides"]);

/** Merges each section of `patch` field by field over `current`; the result is unchecked. */
export function mergeSettings(current: SettingsBody, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const sections = current as unknown as Record<string, unknown>;
  // Object.fromEntries and spreads define own properties, so a "__proto__" key stays a key and fails the check.
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
