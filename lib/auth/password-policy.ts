/**
 * What an acceptable e-mail and password are, apart from the request schemas (credentials.ts): accounts check
 * passwords on every function's cold path, which need not import arktype for it.
 */

/**
 * The password policy (NIST SP 800-63B): 10 to 128 characters (Unicode code points), not only whitespace,
 * not the account's e-mail address. No composition rules: they make passwords harder to remember, not
 * to guess. Existing passwords are never re-checked at login, so tightening the policy locks no one out.
 */
export const PASSWORD_POLICY = { minLength: 10, maxLength: 128 } as const;
/** RFC 5321's limit on a forward path. */
export const MAX_EMAIL_LENGTH = 254;

/** E-mail addresses are compared and stored trimmed and lower-cased. */
export function normaliseEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

/** Why `password` is not acceptable for the account `email` (normalised), or undefined when it is. */
export function passwordProblem(password: string, email: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_POLICY.minLength) return `must be at least ${PASSWORD_POLICY.minLength} characters`;
  if (length > PASSWORD_POLICY.maxLength) return `must be at most ${PASSWORD_POLICY.maxLength} characters`;
  if (password.trim() === "") return "must not be only whitespace";
  if (normaliseEmail(password) === email) return "must not be the e-mail address";
  return undefined;
}
