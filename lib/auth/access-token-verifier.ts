/**
 * Access-token verification with a bounded cache of tokens already verified. A signature check costs
 * tens of microseconds, while a client sends the same token on every request until it expires; a hit
 * skips the signature but not the rest: the token must be the same string, still within its lifetime,
 * and its key still in the ring (a retired key's tokens stop at once). Session revocation is checked
 * by the caller on every request either way.
 */

import { setBounded } from "../collections/bounded-map.ts";
import type { AuthConfig } from "../config/config.ts";
import { CLOCK_SKEW_SECONDS, type VerifiedAccessToken, verifyAccessToken } from "./access-tokens.ts";
import type { KeyRingProvider } from "./key-ring-provider.ts";
import type { KeyRing } from "./signing-keys.ts";

export interface AccessTokenVerifierOptions {
  /** Tokens kept; the oldest is dropped past this. */
  maxEntries: number;
}

export const DEFAULT_ACCESS_TOKEN_VERIFIER: AccessTokenVerifierOptions = { maxEntries: 10_000 };

/** Answers a cached token without a promise while the key ring is loaded. */
export type AccessTokenVerifier = (token: string) => VerifiedAccessToken | Promise<VerifiedAccessToken>;

export function createAccessTokenVerifier(
  ring: KeyRingProvider,
  auth: AuthConfig,
  options: Partial<AccessTokenVerifierOptions> = {},
): AccessTokenVerifier {
  const { maxEntries } = { ...DEFAULT_ACCESS_TOKEN_VERIFIER, ...options };
  // A Map iterates in insertion order: its first key is the oldest entry.
  const verifiedTokens = new Map<string, VerifiedAccessToken>();

  const verifyAndRemember = (token: string): Promise<VerifiedAccessToken> =>
    verifyAccessToken(ring, auth, token).then((verified) => {
      setBounded(verifiedTokens, token, verified, maxEntries);
      return verified;
    });

  const stillValid = (cached: VerifiedAccessToken, keys: KeyRing) =>
    Date.now() <= cached.expiresAt + CLOCK_SKEW_SECONDS * 1000 && keys.verificationKeys.has(cached.kid);

  return (token) => {
    const cached = verifiedTokens.get(token);
    if (cached === undefined) return verifyAndRemember(token);
    const loaded = ring.current();
    if (loaded !== undefined) {
      if (stillValid(cached, loaded)) return cached;
      verifiedTokens.delete(token);
      return verifyAndRemember(token);
    }
    return ring.get().then((keys) => {
      if (stillValid(cached, keys)) return cached;
      verifiedTokens.delete(token);
      return verifyAndRemember(token);
    });
  };
}
