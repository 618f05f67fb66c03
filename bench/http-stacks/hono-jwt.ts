/**
 * The bench driver's tokens for Hono's JWT route: a fresh Ed25519 key pair and tokens with the header and
 * claims of Rampart's access tokens (alg EdDSA, kid, typ at+jwt; iss, aud, sub, sid, jti, iat, exp), so
 * both stacks parse and verify tokens of the same shape and size. Each token has its own jti, so many of
 * them are as many distinct strings, as a cache sees them.
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

export async function mintHonoJwts(count: number): Promise<{ verification: HonoJwtVerification; tokens: string[] }> {
  const { publicKey, privateKey } = await generateKeyPair(ALGORITHM, { crv: "Ed25519" });
  const verification: HonoJwtVerification = {
    publicJwk: await exportJWK(publicKey),
    issuer: "rampart-bench",
    audience: "rampart-bench-api",
    type: "at+jwt",
  };
  const kid = crypto.randomUUID();
  const [sid, sub] = [crypto.randomUUID(), crypto.randomUUID()];
  const now = Math.floor(Date.now() / 1000);
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push(
      await new SignJWT({ sid })
        .setProtectedHeader({ alg: ALGORITHM, kid, typ: verification.type })
        .setIssuer(verification.issuer)
        .setAudience(verification.audience)
        .setSubject(sub)
        .setIssuedAt(now)
        .setExpirationTime(now + TTL_SECONDS)
        .setJti(crypto.randomUUID())
        .sign(privateKey),
    );
  }
  return { verification, tokens };
}
