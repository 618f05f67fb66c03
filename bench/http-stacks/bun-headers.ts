/**
 * The ceiling for any guard chain: Bun.serve with no framework and no logic but what the response must
 * carry, the same headers Rampart sends (security, CORS, rate-limit, request id) from a prebuilt set.
 * It shows what writing those headers costs by itself, next to bare Elysia which sends almost none.
 */
const ORIGIN = "https://app.example.com";
const STATIC_HEADERS = new Headers({
  "content-type": "application/json;charset=utf-8",
  "access-control-allow-origin": ORIGIN,
  "access-control-expose-headers": "x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, ratelimit-policy, retry-after",
  "access-control-allow-headers": "authorization, content-type, idempotency-key, x-request-id",
  vary: "Origin",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()",
  "cache-control": "no-store",
  "ratelimit-limit": "1000000000",
  "ratelimit-policy": "1000000000;w=60",
});

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
