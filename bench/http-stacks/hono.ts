/**
 * Hono on Bun with the middleware closest to Rampart's chain: request id, a JSON request log line,
 * secure headers, CORS for one origin and hono-rate-limiter's in-memory store keyed by client address.
 * GET /v1/whoami is served behind one of two credentials, as Rampart's is:
 * - BENCH_JWT_VERIFICATION (see hono-jwt.ts): hono/jwt (EdDSA, checking iss, aud, typ, exp, nbf and iat);
 * - BENCH_API_KEY_HASHES (a JSON array of SHA-256 hex digests): hono/bearer-auth hashing the key with
 *   SHA-256 and looking the digest up in a Map, the least an API-key check does.
 */
import { Hono } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { getConnInfo } from "hono/bun";
import { cors } from "hono/cors";
import { type JwtVariables, jwt } from "hono/jwt";
import { type RequestIdVariables, requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import { rateLimiter } from "hono-rate-limiter";
// A type only: the token is minted by the driver, so jose is never loaded here.
import type { HonoJwtVerification } from "./hono-jwt.ts";
import { logSinkFromEnv, openLogSink } from "./log-sink.ts";

const writeLine = openLogSink(logSinkFromEnv());

const app = new Hono<{ Variables: RequestIdVariables & JwtVariables<{ sub: string }> & { keyId: string } }>();
app.use(requestId());
app.use(async (c, next) => {
  const startedAt = performance.now();
  await next();
  writeLine(
    JSON.stringify({
      level: "info",
      time: new Date().toISOString(),
      msg: "request",
      requestId: c.get("requestId"),
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      durationMs: Math.round((performance.now() - startedAt) * 100) / 100,
      ip: getConnInfo(c).remote.address,
    }),
  );
});
app.use(secureHeaders());
app.use(cors({ origin: ["https://app.example.com"] }));
app.use(
  rateLimiter({
    windowMs: 60_000,
    limit: 1e9,
    standardHeaders: "draft-6",
    keyGenerator: (c) => getConnInfo(c).remote.address ?? "unknown",
  }),
);
app.get("/v1/ping", (c) => c.json({ ok: true, time: Date.now() }));

const jwtVerification = process.env.BENCH_JWT_VERIFICATION;
if (jwtVerification !== undefined) {
  const { publicJwk, issuer, audience, type } = JSON.parse(jwtVerification) as HonoJwtVerification;
  // Imported once: given a JWK instead of a CryptoKey, hono/jwt imports the key again on every request.
  const publicKey = await crypto.subtle.importKey("jwk", publicJwk, { name: "Ed25519" }, false, ["verify"]);
  const verifyToken = jwt({ secret: publicKey, alg: "EdDSA", verification: { iss: issuer, aud: audience, typ: type } });
  app.get("/v1/whoami", verifyToken, (c) => c.json({ kind: "user", id: c.get("jwtPayload").sub }));
}

const apiKeyHashes = process.env.BENCH_API_KEY_HASHES;
if (apiKeyHashes !== undefined) {
  const keyIds = new Map((JSON.parse(apiKeyHashes) as string[]).map((hash) => [hash, crypto.randomUUID()]));
  const verifyKey = bearerAuth<{ Variables: { keyId: string } }>({
    verifyToken: (key, c) => {
      const keyId = keyIds.get(Bun.SHA256.hash(key, "hex"));
      if (keyId === undefined) return false;
      c.set("keyId", keyId);
      return true;
    },
  });
  app.get("/v1/whoami", verifyKey, (c) => c.json({ kind: "api_key", id: c.get("keyId") }));
}

Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: app.fetch });
// Exit normally on SIGTERM so `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));
