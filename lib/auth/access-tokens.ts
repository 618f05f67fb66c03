/**
 * Access tokens: short-lived EdDSA JWTs. Verification pins everything an attacker could steer: the
 * algorithm list, issuer, audience and `typ`; it requires exp, iat, sub and jti, allows a small clock
 * skew, refuses oversized tokens before parsing, ignores no header it does not understand (`crit`),
 * never fetches or trusts keys named in the token (jku, x5u, jwk, x5c), and looks keys up by kid in
 * the local ring only.
 */
import { type JWTHeaderParameters, SignJWT, errors, jwtVerify } from "jose";
import type { AuthConfig } from "../config/config.ts";
import { AppError } from "../errors/app-error.ts";
import type { KeyRingProvider } from "./key-ring-provider.ts";
import { SIGNING_ALGORITHM } from "./signing-keys.ts";

export const ACCESS_TOKEN_TYPE = "at+jwt";
export const MAX_ACCESS_TOKEN_BYTES = 4_096;
export const CLOCK_SKEW_SECONDS = 30;
const KID_PATTERN = /^[0-9a-f-]{36}$/;
const FORBIDDEN_HEADERS = ["jku", "x5u", "jwk", "x5c", "x5t", "x5t#S256"] as const;

export interface AccessTokenSubject {
  userId: string;
  sessionId: string;
}

export interface VerifiedAccessToken extends AccessTokenSubject {
  jti: string;
  expiresAt: number;
}

export async function signAccessToken(ring: KeyRingProvider, auth: AuthConfig, subject: AccessTokenSubject): Promise<{ token: string; expiresIn: number }> {
  const { signingKid, signingKey } = await ring.get();
  const token = await new SignJWT({ sid: subject.sessionId })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: signingKid, typ: ACCESS_TOKEN_TYPE })
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setSubject(subject.userId)
    .setIssuedAt()
    .setExpirationTime(`${auth.accessTokenTtlSeconds}s`)
    .setJti(crypto.randomUUID())
    .sign(signingKey);
  return { token, expiresIn: auth.accessTokenTtlSeconds };
}

const unauthorized = () => new AppError("UNAUTHORIZED", "The access token is invalid or expired.");

export async function verifyAccessToken(ring: KeyRingProvider, auth: AuthConfig, token: string): Promise<VerifiedAccessToken> {
  if (token.length > MAX_ACCESS_TOKEN_BYTES || token.split(".").length !== 3) throw unauthorized();
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
    if (typeof sub !== "string" || typeof sid !== "string" || typeof jti !== "string" || typeof exp !== "number") throw unauthorized();
    // An iat in the future beyond the skew means a forged or badly clocked token.
    if (typeof iat !== "number" || iat > Date.now() / 1000 + CLOCK_SKEW_SECONDS) throw unauthorized();
    return { userId: sub, sessionId: sid, jti, expiresAt: exp * 1000 };
  } catch (error) {
    if (error instanceof AppError || error instanceof errors.JOSEError || error instanceof TypeError || error instanceof SyntaxError) throw unauthorized();
    throw error;
  }
}
