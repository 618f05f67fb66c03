/** Replaces secret-looking fields in a log record, at any depth, before it is written. */
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

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object" || depth > 6) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) {
    // A failed drizzle query: its message repeats the parameters (addresses, hashes); keep the SQL text.
    if ("query" in value && "params" in value) return { name: value.name, query: redactText(String(value.query)), cause: redact(value.cause, depth + 1) };
    return { name: value.name, message: redactText(value.message) };
  }
  const out: Record<string, unknown> = {};
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    out[key] = isSecretKey(key) ? REDACTED : redact((value as Record<string, unknown>)[key], depth + 1);
  }
  return out;
}
