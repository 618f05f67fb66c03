/**
 * The ceiling for any guard chain: Bun.serve with no framework and no logic but what the response must
 * carry, the same headers Rampart sends (security, CORS, rate-limit, request id) from a prebuilt set.
 * It shows what writing those headers costs by itself, next to bare Elysia which sends almost none.
 */
import { CORS_EXPOSED_HEADERS } from "../../lib/guards/cors.ts";
import { buildSecurityHeaders } from "../../lib/guards/security-headers.ts";

const ORIGIN = "https://app.example.com";
// Taken from the lib, so this stays the set Rampart sends when that set changes.
const STATIC_HEADERS = new Headers(
  Object.fromEntries([
    ["content-type", "application/json;charset=utf-8"],
    ["access-control-allow-origin", ORIGIN],
    ["access-control-expose-headers", CORS_EXPOSED_HEADERS.join(", ")],
    ["vary", "Origin"],
    ...buildSecurityHeaders(),
    ["cache-control", "no-store"],
    ["ratelimit-limit", "1000000000"],
    ["ratelimit-policy", "1000000000;w=60"],
  ]),
);

let remaining = 1e9;
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch(request) {
    const headers = new Headers(STATIC_HEADERS);
    headers.set("x-request-id", request.headers.get("x-request-id") ?? crypto.randomUUID());
    headers.set("ratelimit-remaining", String(--remaining));
    headers.set("ratelimit-reset", String(60 - (Math.floor(Date.now() / 1000) % 60)));
    if (request.headers.get("origin") !== ORIGIN) headers.delete("access-control-allow-origin");
    return new Response(JSON.stringify({ ok: true, time: Date.now() }), { headers });
  },
});
// Exit normally on SIGTERM so `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));
