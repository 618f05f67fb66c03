/** The public keys that verify access tokens (RFC 7517): next, current and retiring, never private material. */
import { Elysia } from "elysia";
import { JWKS_TAG } from "../lib/cache/cache-tags.ts";
import type { UserPolicy } from "../lib/core/route-policy.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";

// Five minutes of caching is safe because a key is published a full rotation before it signs; a rotation purges.
const JWKS: UserPolicy = {
  rateLimits: [{ name: "jwks", limit: 120, window: "1m", scope: "ip" }],
  bodyLimitBytes: 0,
  timeout: "read",
  cache: { scope: "public", ttl: "5m", staleWhileRevalidate: "1m", staleIfError: "1h", tags: () => [JWKS_TAG] },
};

// The identity services are reached per request: building a group (tools/build-vercel.ts) opens nothing.
export default defineRouteGroup("jwks", (runtime) =>
  new Elysia({ name: "jwks" })
    .use(policyPlugin)
    .get("/.well-known/jwks.json", async () => (await runtime.services.identity.keyRing.get()).jwks, { public: JWKS }),
);
