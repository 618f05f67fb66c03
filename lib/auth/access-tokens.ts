/**
 * Access tokens: short-lived EdDSA JWTs. Verification pins everything an attacker could steer: the
 * algorithm list, issuer, audience and `typ`; it requires exp, iat, sub, jti and sid, refuses a lifetime
 * longer than the TTL, allows a small clock skew, refuses oversized tokens before parsing, ignores no
 * header it does not understand (`crit`), never fetches or trusts keys named in the token (jku, x5u,
 * jwk, x5c), and looks keys up by kid in the local ring only.
 */
import { errors, type JWTHeaderParameters, jwtVerify, SignJWT } from "jose";
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
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256"] as const;

export interface AccessTokenSubject {
  userId: string;
  sessionId: string;
}

export interface VerifiedAccessToken extends AccessTokenSubject {
  jti: string;
  expiresAt: number;
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
  const token = await new SignJWT({ sid: subject.sessionId })
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

export async function verifyAccessToken(
  ring: KeyRingProvider,
  auth: AuthConfig,
  token: string,
): Promise<VerifiedAccessToken> {
  if (token.length > MAX_ACCESS_TOKEN_BYTES || !COMPACT_ED25519_JWS.test(token)) throw unauthorized();
  const keyFor = async (header: JWTHeaderParameters) => {
    if (FORBIDDEN_HEADERS.some((name) => name in header)) throw unauthorized();
    if (typeof header.kid !== "string" || !KID_PATTERN.test(header.kid)) throw unauthorized();
    const key = (await ring.forKid(header.kid)).verificationKeys.get(header.kid);
    if (key === undefined) throw unauthorized();
    return key;
  };
  try {
    const { payload } = await jwtVerify(token, keyFor, {
      algorithms: [SIGNING_ALGORITHM],
      issuer: auth.issuer,
      audience: auth.audience,
      typ: ACCESS_TOKEN_TYPE,
      requiredClaims: ["exp", "iat", "sub", "jti", "sid"],
      clockTolerance: CLOCK_SKEW_SECONDS,
      maxTokenAge: `${auth.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS}s`,
    });
    const { sub, sid, jti, exp, iat } = payload;
    if (
      !isNonEmptyString(sub) ||
      !isNonEmptyString(sid) ||
      !isNonEmptyString(jti) ||
      typeof exp !== "number" ||
      typeof iat !== "number"
    )
      throw unauthorized();
    // jose bounds iat (not in the future, not older than the TTL) and exp (not past) one at a time; an exp
    // further from iat than the TTL is a lifetime we never issue, so the token was not minted by signAccessToken.
    if (exp - iat > auth.accessTokenTtlSeconds) throw unauthorized();
    return { userId: sub, sessionId: sid, jti, expiresAt: exp * 1000 };
  } catch (error) {
    // Only verdicts on the token become 401; a failure to load the key ring (database down) stays a 5xx.
    if (error instanceof errors.JOSEError) throw unauthorized();
    throw error;
  }
}
