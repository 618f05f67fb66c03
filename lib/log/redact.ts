/** Replaces secret-looking fields in a log record, at any depth, before it is written. */
export const REDACTED = "[REDACTED]";

const SECRET_KEY = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|credential|signature/i;
// Credentials inside connection strings (postgres://user:pass@host) and bearer values inside free text.
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi;
const BEARER_VALUE = /\b(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;

export function redactText(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1${REDACTED}@`).replace(BEARER_VALUE, `$1${REDACTED}`);
}

export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return redactText(value);
  if (value === null || typeof value !== "object" || depth > 6) return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = SECRET_KEY.test(key) ? REDACTED : redact(inner, depth + 1);
  return out;
}
