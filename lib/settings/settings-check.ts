/**
 * The check of a stored settings document, by hand: every function polls the settings before its first answer,
 * and arktype costs a cold start ~300 ms of CPU. settings-schema.ts stays the schema of record;
 * settings-check.test.ts feeds both the same documents and expects the same verdicts, paths and messages.
 */
import { describeAlternatives } from "../config/env-check.ts";
import type { SettingsBody } from "./settings.ts";

export interface SettingsIssue {
  path: string;
  message: string;
}

export type SettingsCheck = { ok: true; settings: SettingsBody } | { ok: false; issues: SettingsIssue[] };

type Path = readonly (string | number)[];
/** Adds an issue for each way `value` at `path` is not valid. */
type Check = (value: unknown, path: Path, issues: SettingsIssue[]) => void;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The path as arktype's messages name it: `cors.origins[0]`, `rateLimitOverrides["/v1"]`. */
function label(path: Path): string {
  return path
    .map((key, i) => {
      if (typeof key === "number") return `[${key}]`;
      if (!IDENTIFIER.test(key)) return `[${JSON.stringify(key)}]`;
      return i === 0 ? key : `.${key}`;
    })
    .join("");
}

function fail(issues: SettingsIssue[], path: Path, expected: string) {
  const name = label(path);
  issues.push({ path: path.join("."), message: name === "" ? `must be ${expected}` : `${name} must be ${expected}` });
}

const integer =
  (min: number, max: number): Check =>
  (value, path, issues) => {
    if (typeof value !== "number" || Number.isNaN(value)) return fail(issues, path, "a number");
    const reasons = [
      ...(Number.isInteger(value) ? [] : ["an integer"]),
      ...(value < min ? [`at least ${min}`] : value > max ? [`at most ${max}`] : []),
    ];
    // Two reasons at once read as arktype words them, the value included (a stored value, never a secret).
    if (reasons.length === 1) fail(issues, path, `${reasons[0]}`);
    else if (reasons.length > 1)
      issues.push({
        path: path.join("."),
        message: `${label(path)} (${value}) must be...\n${reasons.map((r) => `  ◦ ${r}`).join("\n")}`,
      });
  };

const boolean: Check = (value, path, issues) => {
  if (typeof value !== "boolean") fail(issues, path, "boolean");
};

const oneOf =
  (...values: string[]): Check =>
  (value, path, issues) => {
    if (!values.includes(value as string)) fail(issues, path, describeAlternatives(values));
  };

const name: Check = (value, path, issues) => {
  if (typeof value !== "string") fail(issues, path, "a string");
  else if (value.length === 0) fail(issues, path, "non-empty");
  else if (value.length > 64) fail(issues, path, "at most length 64");
};

// Exact origins only: no wildcard (which URL accepts as a host), no path, no "null".
const ORIGIN_SHAPE = /^https?:\/\/([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/;
const origin: Check = (value, path, issues) => {
  if (typeof value !== "string") fail(issues, path, "a string");
  else if (!(ORIGIN_SHAPE.test(value) && URL.canParse(value) && new URL(value).origin === value))
    fail(issues, path, "a full origin like https://app.example.com");
};

const arrayOf =
  (element: Check): Check =>
  (value, path, issues) => {
    if (!Array.isArray(value)) return fail(issues, path, "an array");
    for (const [i, item] of value.entries()) element(item, [...path, i], issues);
  };

// Arrays count as objects, as they do for arktype.
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null;

/** An object with these fields and no others; fields are checked in arktype's order, required ones first. */
function record(required: Record<string, Check>, optional: Record<string, Check> = {}): Check {
  const requiredKeys = Object.keys(required).sort();
  const optionalKeys = Object.keys(optional).sort();
  const declared = new Set([...requiredKeys, ...optionalKeys]);
  return (value, path, issues) => {
    if (!isObject(value)) return fail(issues, path, "an object");
    for (const key of requiredKeys) required[key]?.(value[key], [...path, key], issues);
    for (const key of optionalKeys) if (Object.hasOwn(value, key)) optional[key]?.(value[key], [...path, key], issues);
    for (const key of Object.keys(value)) if (!declared.has(key)) fail(issues, [...path, key], "removed");
  };
}

/** An object keyed by route path prefixes ("/v1/auth"); any other key is refused. */
const byPathPrefix =
  (entry: Check): Check =>
  (value, path, issues) => {
    if (!isObject(value)) return fail(issues, path, "an object");
    for (const key of Object.keys(value))
      key.startsWith("/") ? entry(value[key], [...path, key], issues) : fail(issues, [...path, key], "removed");
  };

const milliseconds = integer(1, 86_400_000);

const settings = record({
  cors: record({ origins: arrayOf(origin), credentials: boolean, maxAgeSeconds: integer(0, 86_400) }),
  emergency: record({ enabled: boolean, limitDivisor: integer(1, 1_000), blockThreshold: integer(1, 1_000_000) }),
  blocking: record({ threshold: integer(1, 1_000_000), windowMs: milliseconds, blockMs: integer(1, 31_536_000_000) }),
  timeoutsMs: record({ read: milliseconds, write: milliseconds, auth: milliseconds, cron: milliseconds }),
  rateLimitOverrides: byPathPrefix(
    arrayOf(
      record(
        {
          name,
          limit: integer(1, 100_000_000),
          windowMs: milliseconds,
          scope: oneOf("ip", "user", "org", "key", "email"),
        },
        {
          algorithm: oneOf("fixed-window", "sliding-window"),
          onStoreFailure: oneOf("open", "closed"),
          acrossRoutes: boolean,
        },
      ),
    ),
  ),
});

/** Checks stored settings (merged over the base) as `checkSettings` of settings-schema.ts does. */
export function checkStoredSettings(candidate: unknown): SettingsCheck {
  const issues: SettingsIssue[] = [];
  settings(candidate, [], issues);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, settings: candidate as SettingsBody };
}
