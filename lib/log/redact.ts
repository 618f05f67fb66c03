/**
 * Replaces secret-looking fields in a log record, at any depth, before it is written, and secrets in unrouted paths.
 */
export const REDACTED = "[REDACTED]";

const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|credential|signature/i;
// Credentials inside connection strings (postgres://user:pass@host) and bearer values inside free text.
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi;
const BEARER_VALUE = /\b(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;

// Most strings (ids, routes, methods) hold neither pattern; one cheap scan skips both regexes for them.
const MAY_HOLD_CREDENTIALS = /:\/\/|bearer/i;

export function redactText(text: string): string {
  if (!MAY_HOLD_CREDENTIALS.test(text)) return text;
  return text.replace(URL_CREDENTIALS, `$1${REDACTED}@`).replace(BEARER_VALUE, `$1${REDACTED}`);
}

export interface PathRedactorOptions {
  /** A segment starting with this and `_` is an API key, however short (a truncated paste is still secret). */
  apiKeyPrefix: string;
}

// A run this long of base64url (or hex) characters carries a token's entropy, not a word.
const TOKEN_RUN = /[A-Za-z0-9_+=-]{32,}/;
// A JWT (or JWE): dot-separated base64url parts, the first an encoded JSON header of 10+ characters.
const JWT_LIKE = /^[A-Za-z0-9_-]{10,}(\.[A-Za-z0-9_-]*){2,4}$/;
const BEARER = /bearer/i;
// Ids are not secrets, and keeping them shows which resource a wrong path named.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Builds the redactor for a path no route matched, which may hold anything a client pasted into it.
 *
 * @returns the path with each bearer-, key- or token-shaped segment replaced by `[REDACTED]`
 * @example pathRedactor({ apiKeyPrefix: "rk" })("/x/rk_abc/eyJhbGciOiJIUzI1NiJ9.e30.sig") // "/x/[REDACTED]/[REDACTED]"
 */
export function pathRedactor(options: PathRedactorOptions): (path: string) => string {
  const keyStart = `${options.apiKeyPrefix}_`;
  const isSecret = (segment: string) =>
    !UUID.test(segment) &&
    (segment.startsWith(keyStart) || BEARER.test(segment) || JWT_LIKE.test(segment) || TOKEN_RUN.test(segment));
  return (path) =>
    path
      .split("/")
      .map((segment) => (isSecret(segment) ? REDACTED : segment))
      .join("/");
}

// Log records reuse a small set of field names; remember which ones are secret.
const secretKeyCache = new Map<string, boolean>();
function isSecretKey(key: string): boolean {
  let secret = secretKeyCache.get(key);
  if (secret === undefined) {
    secret = SECRET_KEY.test(key);
    if (secretKeyCache.size < 10_000) secretKeyCache.set(key, secret);
  }
  return secret;
}

// A server error from any of the drivers (postgres.js, Neon, PGlite): a SQLSTATE code and a severity.
const SQLSTATE = /^[0-9A-Z]{5}$/;
function isServerError(error: Error): error is Error & { code: string } {
  return "code" in error && typeof error.code === "string" && SQLSTATE.test(error.code) && "severity" in error;
}

/**
 * What is safe to log of an error PostgreSQL sent back: its code and the names of what it concerns.
 * A data exception's message repeats the offending value (`invalid input syntax for type uuid: "…"`),
 * which may be a token or an address, so class 22 keeps only its code; `detail` (the row or key values of
 * a constraint violation) is never kept.
 */
export function describeServerError(error: Error & { code: string }): Record<string, unknown> {
  const described: Record<string, unknown> = { name: error.name, code: error.code };
  if (!error.code.startsWith("22")) described.message = redactText(error.message);
  const fields = error as unknown as Record<string, unknown>;
  for (const [key, names] of SERVER_ERROR_NAMES) {
    const value = names.map((name) => fields[name]).find((v) => typeof v === "string");
    if (value !== undefined) described[key] = value;
  }
  return described;
}

// Each driver names these its own way (postgres.js: snake_case; pg-protocol, used by Neon and PGlite: short).
const SERVER_ERROR_NAMES: [string, string[]][] = [
  ["table", ["table_name", "table"]],
  ["column", ["column_name", "column"]],
  ["constraint", ["constraint_name", "constraint"]],
];

/** An error for a log line: name and redacted message, and for a database error only what describeServerError keeps. */
export function describeError(error: Error, depth = 0): Record<string, unknown> {
  if (isServerError(error)) return describeServerError(error);
  // A failed drizzle query: its message repeats the parameters (addresses, hashes); keep the SQL text.
  if ("query" in error && "params" in error)
    return { name: error.name, query: redactText(String(error.query)), cause: redact(error.cause, depth + 1) };
  return { name: error.name, message: redactText(error.message) };
}

/**
 * A log record as `redact` would give it, without the copy when nothing in it needs redacting: a plain object
 * of non-secret names and primitive values, as most lines are (a request line is one per request).
 */
export function redactRecord(record: Record<string, unknown>): unknown {
  if (Object.getPrototypeOf(record) !== Object.prototype) return redact(record);
  for (const key in record) {
    const value = record[key];
    if (isSecretKey(key) || (typeof value === "object" && value !== null)) return redact(record);
    if (typeof value === "string" && MAY_HOLD_CREDENTIALS.test(value)) return redact(record);
  }
  return record;
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object" || depth > 6) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) return describeError(value, depth);
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    out[key] = isSecretKey(key) ? REDACTED : redact((value as Record<string, unknown>)[key], depth + 1);
  }
  return out;
}
