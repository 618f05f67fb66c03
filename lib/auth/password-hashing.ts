/**
 * Password hashing with argon2id at a measured cost. A login for an unknown e-mail verifies against a
 * dummy hash of the same cost, so it takes as long as a wrong password does.
 */
import { type Argon2, platformArgon2 } from "./argon2.ts";

export interface PasswordHashingOptions {
  /** Memory per hash, in KiB. */
  memoryCost: number;
  /** Passes over that memory. */
  timeCost: number;
}

// 64 MiB, 2 passes, 1 lane (RFC 9106's second recommendation with t=2; OWASP's floor is 19 MiB, t=2).
// Measured with bun 1.4.5 on the 2-vCPU AMD EPYC development VM: hash 72 ms, verify 74 ms (median of 15).
// Each hash holds 64 MiB while it runs: size serverless functions for the logins they serve at once.
export const DEFAULT_PASSWORD_HASHING: PasswordHashingOptions = { memoryCost: 65_536, timeCost: 2 };

// The hash of 32 random bytes nobody kept, made with DEFAULT_PASSWORD_HASHING: verifying against it costs
// what verifying a real password costs, and no password matches it. A constant, so a cold start does no hash;
// at any other cost the hasher makes its own.
const DEFAULT_DUMMY_HASH =
  "$argon2id$v=19$m=65536,t=2,p=1$8qObFw/a8WC69mbJOfuE89VywcgFXzNP39dHrGGafgE$" +
  "53r2HJW2uY5sEy+3VK3dXho4JUKt6T21h0/bMNK8pvY";

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** The work of one verification, for an account that does not exist; always false. */
  verifyAgainstDummy(password: string): Promise<false>;
  /** Whether a stored hash was made at another cost and should be replaced at the next login. */
  needsRehash(hash: string): boolean;
}

// NFKC (NIST SP 800-63B 5.1.1.2): the same password typed on another keyboard or input method still matches.
const normalise = (password: string) => password.normalize("NFKC");

export function createPasswordHasher(
  options: PasswordHashingOptions = DEFAULT_PASSWORD_HASHING,
  argon2: Argon2 = platformArgon2,
): PasswordHasher {
  const cost = { memoryCost: options.memoryCost, timeCost: options.timeCost };
  const parameters = `$argon2id$v=19$m=${options.memoryCost},t=${options.timeCost},p=1$`;
  const hash = (password: string) => argon2.hash(normalise(password), cost);
  // At another cost, made now rather than at the first unknown e-mail, which would otherwise take twice as long.
  const dummy = DEFAULT_DUMMY_HASH.startsWith(parameters)
    ? Promise.resolve(DEFAULT_DUMMY_HASH)
    : hash(crypto.randomUUID());
  return {
    hash,
    verify: (password, stored) => argon2.verify(normalise(password), stored),
    async verifyAgainstDummy(password) {
      await argon2.verify(normalise(password), await dummy);
      return false;
    },
    needsRehash: (stored) => !stored.startsWith(parameters),
  };
}
