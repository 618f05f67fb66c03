/**
 * Access tokens: short-lived EdDSA JWTs. Verification pins everything an attacker could steer: the
 * algorithm, issuer, audience and `typ`; it requires exp, iat, sub, jti and sid, refuses a lifetime
 * longer than the TTL, allows a small clock skew, refuses oversized tokens before parsing, refuses any
 * `crit` header, never fetches or trusts keys named in the token (jku, x5u, jwk, x5c), and looks keys up
 * by kid in the local ring only. jose signs; verification is written out here because jose's generic
 * jwtVerify re-parses and re-checks what this fixed shape already settles (measured in bench/jwt-verify.ts).
 */
import { KeyObject, verify as verifySignature } from "node:crypto";
import { SignJWT } from "jose";
import { setBounded } from "../collections/bounded-map.ts";
import type { AuthConfig } from "../config/config.ts";
import { AppError } from "../errors/app-error.ts";
import type { KeyRingProvider } from "./key-ring-provider.ts";
import { type KeyRing, SIGNING_ALGORITHM } from "./signing-keys.ts";

export const ACCESS_TOKEN_TYPE = "at+jwt";
export const MAX_ACCESS_TOKEN_BYTES = 4_096;
export const CLOCK_SKEW_SECONDS = 30;
const KID_PATTERN = /^[0-9a-f-]{36}$/;
// Canonical base64url only, and an Ed25519 signature is exactly 64 bytes: 85 characters and a last one
// whose unused low bits are zero. Lenient decoders also accept padding, whitespace and other last
// characters, which would give every token many spellings that all verify.
const COMPACT_ED25519_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{85}[AQgw]$/;
// `crit` too: every extension it could name changes how the token must be read, and we issue none.
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256", "crit"] as const;

export interface AccessTokenSubject {
  userId: string;
  sessionId: string;
  /** When the session last proved who its user is (epoch seconds): the `auth_time` claim step-up reads. */
  authTime?: number;
}

export interface VerifiedAccessToken extends AccessTokenSubject {
  jti: string;
  expiresAt: number;
  /** The key that signed it: a cached token stops verifying once its key leaves the ring. */
  kid: string;
}

export interface IssuedAccessToken {
  token: string;
  expiresIn: number;
}

/**
 * Signs with a ring already loaded, so a caller can sign inside its transaction, before commit, without
 * the ring's own queries waiting on that transaction.
 */
export async function signAccessToken(
  ring: KeyRing,
  auth: AuthConfig,
  subject: AccessTokenSubject,
): Promise<IssuedAccessToken> {
  const { signingKid, signingKey } = ring;
  if (signingKey === undefined) throw new AppError("SIGNING_KEY_UNAVAILABLE");
  // One clock reading for both claims: verification refuses a lifetime longer than the TTL by even a second.
  const now = Math.floor(Date.now() / 1000);
  const claims = subject.authTime === undefined ? {} : { auth_time: subject.authTime };
  const token = await new SignJWT({ sid: subject.sessionId, ...claims })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: signingKid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setSubject(subject.userId)
    .setIssuedAt(now)
    .setExpirationTime(now + auth.accessTokenTtlSeconds)
    .setJti(crypto.randomUUID())
    .sign(signingKey);
  return { token, expiresIn: auth.accessTokenTtlSeconds };
}

// The default message: a refused token must not be told apart from a missing one or a revoked session.
const unauthorized = () => new AppError("UNAUTHORIZED");
const isNonEmptyString = (value: unknown): value is string => typeof value === "string" && value.length > 0;
const isWholeSeconds = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);
const utf8 = new TextDecoder("utf-8", { fatal: true });
const ascii = new TextEncoder();

/** A base64url JSON segment as a plain object, or undefined for anything else (bad UTF-8, JSON, an array). */
function objectOf(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(utf8.decode(Uint8Array.fromBase64(segment, { alphabet: "base64url" })));
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

// As RFC 8725 §3.11 and jose compare it: case-insensitive, with or without the "application/" prefix.
const isAccessTokenType = (typ: unknown) =>
  typ === ACCESS_TOKEN_TYPE ||
  (typeof typ === "string" && typ.toLowerCase().replace(/^application\//, "") === ACCESS_TOKEN_TYPE);

/** The kid of a header we accept: our algorithm and type, no key material or extension named in it. */
function kidOfHeader(header: Record<string, unknown>): string | undefined {
  if (header.alg !== SIGNING_ALGORITHM || !isAccessTokenType(header.typ)) return undefined;
  if (FORBIDDEN_HEADERS.some((name) => name in header)) return undefined;
  return typeof header.kid === "string" && KID_PATTERN.test(header.kid) ? header.kid : undefined;
}

// Every token a key signs carries the same encoded header, so the verdict on one spelling is kept; a header
// is a pure function of its bytes, and only accepted ones are kept, a few per key in the ring.
const acceptedHeaders = new Map<string, string>();
const MAX_ACCEPTED_HEADERS = 64;

function kidOf(encodedHeader: string): string | undefined {
  const known = acceptedHeaders.get(encodedHeader);
  if (known !== undefined) return known;
  const header = objectOf(encodedHeader);
  const kid = header === undefined ? undefined : kidOfHeader(header);
  if (kid !== undefined) setBounded(acceptedHeaders, encodedHeader, kid, MAX_ACCEPTED_HEADERS);
  return kid;
}

/**
 * The claims checks, with `now` in seconds: exp not past, nbf and iat not in the future, iat no older than
 * the TTL, each allowing CLOCK_SKEW_SECONDS; and a lifetime (exp - iat) no longer than the TTL we issue.
 */
function claimsOf(claims: Record<string, unknown>, auth: AuthConfig, now: number) {
  const { iss, aud, sub, sid, jti, exp, iat, nbf, auth_time: authTime } = claims;
  if (iss !== auth.issuer) return undefined;
  if (aud !== auth.audience && !(Array.isArray(aud) && aud.includes(auth.audience))) return undefined;
  if (!isNonEmptyString(sub) || !isNonEmptyString(sid) || !isNonEmptyString(jti)) return undefined;
  if (!isWholeSeconds(exp) || !isWholeSeconds(iat)) return undefined;
  if (exp <= now - CLOCK_SKEW_SECONDS) return undefined;
  if (iat > now + CLOCK_SKEW_SECONDS || now - iat > auth.accessTokenTtlSeconds + 2 * CLOCK_SKEW_SECONDS)
    return undefined;
  if (nbf !== undefined && (!isWholeSeconds(nbf) || nbf > now + CLOCK_SKEW_SECONDS)) return undefined;
  if (exp - iat > auth.accessTokenTtlSeconds) return undefined;
  if (authTime !== undefined && !isWholeSeconds(authTime)) return undefined;
  return { userId: sub, sessionId: sid, jti, expiresAt: exp * 1000, ...(authTime === undefined ? {} : { authTime }) };
}

// node:crypto's Ed25519 verify on a KeyObject, made once per ring key, runs in place; Bun's
// crypto.subtle.verify on the same key costs ~20 us more a token (bench/jwt-verify.ts).
const keyObjects = new WeakMap<CryptoKey, KeyObject>();
function verifierOf(key: CryptoKey): KeyObject {
  let keyObject = keyObjects.get(key);
  if (keyObject === undefined) {
    keyObject = KeyObject.from(key);
    keyObjects.set(key, keyObject);
  }
  return keyObject;
}

/**
 * Every check that needs no key runs first, so a refused token costs no signature check and an unknown kid
 * reloads the ring only for a token that would otherwise pass. The key is the ring's CryptoKey, imported
 * once when the ring loads, as a KeyObject. A failure to load the ring (database down) is thrown as is: a
 * 5xx, not a 401.
 */
export async function verifyAccessToken(
  ring: KeyRingProvider,
  auth: AuthConfig,
  token: string,
): Promise<VerifiedAccessToken> {
  if (token.length > MAX_ACCESS_TOKEN_BYTES || !COMPACT_ED25519_JWS.test(token)) throw unauthorized();
  const headerEnd = token.indexOf(".");
  const signedEnd = token.lastIndexOf(".");
  const kid = kidOf(token.slice(0, headerEnd));
  if (kid === undefined) throw unauthorized();
  const claims = objectOf(token.slice(headerEnd + 1, signedEnd));
  const verified = claims === undefined ? undefined : claimsOf(claims, auth, Math.floor(Date.now() / 1000));
  if (verified === undefined) throw unauthorized();
  // forKid reloads the ring, at most once in a while, for a kid the loaded one lacks (another instance rotated).
  const key = ring.current()?.verificationKeys.get(kid) ?? (await ring.forKid(kid)).verificationKeys.get(kid);
  if (key === undefined) throw unauthorized();
  const signature = Uint8Array.fromBase64(token.slice(signedEnd + 1), { alphabet: "base64url" });
  if (!verifySignature(null, ascii.encode(token.slice(0, signedEnd)), verifierOf(key), signature)) throw unauthorized();
  return { ...verified, kid };
}
