/**
 * CORS through @elysiajs/cors, configured strictly. Left to its defaults it reflects any Origin with
 * credentials, and its string rules match across schemes; here an origin is allowed only when it is,
 * character for character, one of the configured full origins (scheme, host and port). `null`, scheme
 * downgrades, look-alike suffixes and unlisted subdomains all fail that test. Origins, credentials and
 * the preflight's max-age are read from the live settings, so a change applies without a restart.
 */
import { cors } from "@elysiajs/cors";
import { Elysia } from "elysia";
import type { SettingsSource } from "../settings/settings.ts";
import type { HeaderList } from "./security-headers.ts";

export const CORS_ALLOWED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
export const CORS_ALLOWED_HEADERS = [
  "authorization",
  "content-type",
  "idempotency-key",
  "x-request-id",
  "x-human-verification",
];
export const CORS_EXPOSED_HEADERS = [
  "x-request-id",
  "ratelimit-limit",
  "ratelimit-remaining",
  "ratelimit-reset",
  "ratelimit-policy",
  "retry-after",
];

export function createOriginCheck(settings: SettingsSource): (origin: string | null) => boolean {
  let version = -1;
  let allowed = new Set<string>();
  return (origin) => {
    const current = settings.current();
    if (current.version !== version) {
      allowed = new Set(current.cors.origins);
      version = current.version;
    }
    return origin !== null && allowed.has(origin);
  };
}

const ALLOW_METHODS = CORS_ALLOWED_METHODS.join(", ");
const ALLOW_HEADERS = CORS_ALLOWED_HEADERS.join(", ");
const EXPOSE_HEADERS = CORS_EXPOSED_HEADERS.join(", ");

/**
 * What the plugin below sends on every response, whatever the origin and the settings (built into prepared headers).
 */
export function corsHeadersOnEveryResponse(): HeaderList {
  return [
    ["access-control-expose-headers", EXPOSE_HEADERS],
    ["vary", "Origin"],
  ];
}

export function createCorsPlugin(settings: SettingsSource) {
  const isAllowedOrigin = createOriginCheck(settings);
  // The plugin fixes credentials and max-age when it is built; they are live settings, so they are set
  // here, from the current settings, on the responses to allowed origins (the only ones they mean anything on).
  // Allowed methods and headers mean something only on a preflight: the plugin would send them on every
  // response, so they are left out of it and added here, to allowed preflights alone.
  return new Elysia({ name: "rampart-cors" })
    .onRequest(({ request, set }) => {
      if (!isAllowedOrigin(request.headers.get("origin"))) return;
      const { credentials, maxAgeSeconds } = settings.current().cors;
      if (credentials) set.headers["access-control-allow-credentials"] = "true";
      if (request.method !== "OPTIONS" || !request.headers.has("access-control-request-method")) return;
      set.headers["access-control-allow-methods"] = ALLOW_METHODS;
      set.headers["access-control-allow-headers"] = ALLOW_HEADERS;
      // 0 sends "0" (do not cache the preflight), not the browser's default of 5 seconds.
      set.headers["access-control-max-age"] = String(maxAgeSeconds);
    })
    .use(
      cors({
        origin: (request: Request) => isAllowedOrigin(request.headers.get("origin")),
        methods: false,
        // `false` (send none) is handled by the plugin though its types leave it out.
        allowedHeaders: false as unknown as string,
        exposeHeaders: EXPOSE_HEADERS,
        credentials: false,
        maxAge: 0,
        preflight: true,
      }),
    );
}
