/**
 * The bench driver's token for Hono's JWT route: a fresh Ed25519 key pair and a token with the header and
 * claims of Rampart's access tokens (alg EdDSA, kid, typ at+jwt; iss, aud, sub, sid, jti, iat, exp), so
 * both stacks parse and verify tokens of the same shape and size.
 */
import { exportJWK, generateKeyPair, SignJWT } from "jose";

/** What hono.ts verifies against; handed to it as JSON in BENCH_JWT_VERIFICATION. */
export interface HonoJwtVerification {
  publicJwk: JsonWebKey;
  issuer: string;
  audience: string;
  type: string;
}

// hono.ts verifies EdDSA only.
const ALGORITHM = "EdDSA";
const TTL_SECONDS = 900;

export async function mintHonoJwt(): Promise<{ verification: HonoJwtVerification; token: string }> {
  const { publicKey, privateKey } = await generateKeyPair(ALGORITHM, { crv: "Ed25519" });
  const verification: HonoJwtVerification = {
    publicJwk: await exportJWK(publicKey),
    issuer: "rampart-bench",
    audience: "rampart-bench-api",
    type: "at+jwt",
  };
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ sid: crypto.randomUUID() })
    .setProtectedHeader({ alg: ALGORITHM, kid: crypto.randomUUID(), typ: verification.type })
    .setIssuer(verification.issuer)
    .setAudience(verification.audience)
    .setSubject(crypto.randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + TTL_SECONDS)
    .setJti(crypto.randomUUID())
    .sign(privateKey);
  return { verification, token };
}
