/** Secret comparison whose timing does not depend on where, or whether, the strings differ. */
import { createHash, timingSafeEqual } from "node:crypto";

// Hashing first gives equal-length inputs, so the length of the secret does not leak either.
export function secretsEqual(received: string, expected: string): boolean {
  const a = createHash("sha256").update(received).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}
