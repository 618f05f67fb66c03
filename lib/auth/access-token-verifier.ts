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

interface CachedToken {
  verified: VerifiedAccessToken;
  kid: string;
}

function kidOf(token: string): string | undefined {
  try {
    const header = JSON.parse(atob(token.slice(0, token.indexOf(".")).replace(/-/g, "+").replace(/_/g, "/"))) as {
      kid?: unknown;
    };
    return typeof header.kid === "string" ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

export function createAccessTokenVerifier(
  ring: KeyRingProvider,
  auth: AuthConfig,
  options: Partial<AccessTokenVerifierOptions> = {},
): AccessTokenVerifier {
  const { maxEntries } = { ...DEFAULT_ACCESS_TOKEN_VERIFIER, ...options };
  // A Map iterates in insertion order: its first key is the oldest entry.
  const verifiedTokens = new Map<string, CachedToken>();

  const verifyAndRemember = async (token: string): Promise<VerifiedAccessToken> => {
    const verified = await verifyAccessToken(ring, auth, token);
    const kid = kidOf(token);
    if (kid !== undefined) {
      setBounded(verifiedTokens, token, { verified, kid }, maxEntries);
    }
    return verified;
  };

  const stillValid = (cached: CachedToken, keys: KeyRing) =>
    Date.now() <= cached.verified.expiresAt + CLOCK_SKEW_SECONDS * 1000 && keys.verificationKeys.has(cached.kid);

  return (token) => {
    const cached = verifiedTokens.get(token);
    if (cached === undefined) return verifyAndRemember(token);
    const loaded = ring.current();
    if (loaded !== undefined) {
      if (stillValid(cached, loaded)) return cached.verified;
      verifiedTokens.delete(token);
      return verifyAndRemember(token);
    }
    return ring.get().then((keys) => {
      if (stillValid(cached, keys)) return cached.verified;
      verifiedTokens.delete(token);
      return verifyAndRemember(token);
    });
  };
}
