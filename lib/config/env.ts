/** Every environment variable Rampart reads, declared and validated once at start-up. */
import { type } from "arktype";

// Error messages name an example of a valid value, never the pattern that checks it.
const positiveInt = type("string.integer.parse")
  .pipe((n, ctx) => (n > 0 ? n : ctx.error("a positive integer")))
  .describe("a positive integer");
const postgresUrl = type(/^postgres(ql)?:\/\/.+/).describe(
  "a PostgreSQL URL, e.g. postgres://user:password@db.example.com:5432/app",
);
const httpUrl = type("string").narrow(
  (value, ctx) =>
    (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)) ||
    ctx.mustBe("an http(s) URL such as https://verify.example.com/siteverify"),
);

export const envSchema = type({
  "NODE_ENV?": "'development' | 'production' | 'test'",
  "PORT?": positiveInt,
  "LOG_LEVEL?": "'debug' | 'info' | 'warn' | 'error'",
  "DATABASE_URL?": postgresUrl,
  "DATABASE_READ_URL?": postgresUrl,
  "DATABASE_READ_MAX_LAG_MS?": positiveInt,
  "DATABASE_READ_AFTER_WRITE_MS?": positiveInt,
  "DATABASE_DRIVER?": "'neon' | 'postgres'",
  "PGLITE_DATA_DIR?": "string > 0",
  "NEON_WS_PROXY?": "string > 0",
  "UPSTASH_REDIS_REST_URL?": type(/^https?:\/\/.+/).describe(
    "an http(s) URL, e.g. https://eu1-example-12345.upstash.io",
  ),
  "UPSTASH_REDIS_REST_TOKEN?": "string > 0",
  "STORE_TIMEOUT_MS?": positiveInt,
  "RATE_LIMIT_INSTANCES?": positiveInt,
  "CRON_SECRET?": type("string >= 16").describe("at least 16 characters, e.g. from `openssl rand -hex 32`"),
  "SHUTDOWN_DRAIN_MS?": positiveInt,
  "READINESS_CACHE_MS?": positiveInt,
  "TRUST_PROXY?": type(/^(none|vercel|[1-9][0-9]?)$/).describe(
    "none, vercel, or a number of trusted X-Forwarded-For hops from 1 to 99, e.g. TRUST_PROXY=vercel",
  ),
  "CORS_ORIGINS?": "string",
  "CORS_CREDENTIALS?": "'true' | 'false'",
  "WEBHOOK_LOCAL_ENDPOINTS?": "'true' | 'false'",
  "COMPRESSION?": "'auto' | 'off'",
  "CDN_PURGE_PROVIDER?": "'vercel' | 'none'",
  "CDN_PURGE_URL?": httpUrl,
  "VERCEL_API_TOKEN?": "string > 0",
  "VERCEL_PROJECT_ID?": "string > 0",
  "VERCEL_TEAM_ID?": "string > 0",
  "HSTS_MAX_AGE?": type("string.integer.parse").describe(
    "a number of seconds, e.g. 31536000 (0 leaves the header out)",
  ),
  "ADMIN_TOKEN?": type("string >= 32").describe("at least 32 characters, e.g. from `openssl rand -hex 32`"),
  "METRICS_TOKEN?": type("string >= 32").describe("at least 32 characters, e.g. from `openssl rand -hex 32`"),
  "EMERGENCY_MODE?": "'on' | 'off'",
  "SETTINGS_POLL_MS?": positiveInt,
  "ENCRYPTION_KEYS?": type(/^v\d+:[A-Za-z0-9+/_-]{43}=?(,v\d+:[A-Za-z0-9+/_-]{43}=?)*$/).describe(
    "versioned 32-byte keys in base64, e.g. v2:<key>,v1:<key>; make one with `echo v1:$(openssl rand -base64 32)`",
  ),
  "ENCRYPTION_RETIRED_VERSIONS?": type(/^v\d+(,v\d+)*$/).describe("key versions, e.g. v1 or v1,v2"),
  "JWT_ISSUER?": "string > 0",
  "WEBAUTHN_RP_ID?": type(/^[a-z0-9.-]+$/).describe("a host name, e.g. example.com"),
  "WEBAUTHN_ORIGINS?": "string",
  "JWT_AUDIENCE?": "string > 0",
  "ACCESS_TOKEN_TTL_SECONDS?": positiveInt,
  "REFRESH_IDLE_TTL_SECONDS?": positiveInt,
  "SESSION_ABSOLUTE_TTL_SECONDS?": positiveInt,
  "API_KEY_PREFIX?": type(/^[a-z]{2,8}$/).describe("2 to 8 lower-case letters, e.g. rk"),
  "HUMAN_VERIFICATION_PROVIDER?": "'turnstile' | 'hcaptcha'",
  "HUMAN_VERIFICATION_SECRET?": "string > 0",
  "HUMAN_VERIFICATION_URL?": httpUrl,
  "HUMAN_VERIFICATION_TIMEOUT_MS?": positiveInt,
  "OIDC_REDIRECT_BASE_URL?": httpUrl,
  "OIDC_GOOGLE_CLIENT_ID?": "string > 0",
  "OIDC_GOOGLE_CLIENT_SECRET?": "string > 0",
  "OIDC_MICROSOFT_CLIENT_ID?": "string > 0",
  "OIDC_MICROSOFT_CLIENT_SECRET?": "string > 0",
  "OIDC_MICROSOFT_TENANT?": type(/^[A-Za-z0-9.-]+$/).describe("a tenant id or domain, e.g. contoso.onmicrosoft.com"),
  "OIDC_GITHUB_CLIENT_ID?": "string > 0",
  "OIDC_GITHUB_CLIENT_SECRET?": "string > 0",
  "OIDC_GITHUB_URL?": httpUrl,
  "OIDC_GITHUB_API_URL?": httpUrl,
  "OIDC_ISSUER?": httpUrl,
  "OIDC_CLIENT_ID?": "string > 0",
  "OIDC_CLIENT_SECRET?": "string > 0",
  "OIDC_NAME?": "string > 0",
  "SLO_SLACK_WEBHOOK_URL?": httpUrl,
  "SLO_PAGERDUTY_ROUTING_KEY?": "string > 0",
  "SLO_PAGERDUTY_URL?": httpUrl,
  "SLO_WEBHOOK_URL?": httpUrl,
  "SLO_WEBHOOK_SECRET?": type(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/).describe(
    "a Standard Webhooks secret, e.g. whsec_$(openssl rand -base64 32)",
  ),
  "EMAIL_PROVIDER?": "'database' | 'resend'",
  "EMAIL_FROM?": type(/^(?:[^\r\n<>"]{1,100} )?<?[^\s<>@]+@[^\s<>@]+>?$/).describe(
    "a sender address, e.g. Acme <no-reply@acme.example>",
  ),
  "EMAIL_API_KEY?": "string > 0",
  "EMAIL_API_URL?": httpUrl,
  "APP_URL?": httpUrl,
  "EMAIL_VERIFICATION_REQUIRED?": "'true' | 'false'",
  "S3_ENDPOINT?": httpUrl,
  "S3_REGION?": "string > 0",
  "S3_BUCKET?": "string > 0",
  "S3_ACCESS_KEY_ID?": "string > 0",
  "S3_SECRET_ACCESS_KEY?": "string > 0",
  "S3_PATH_STYLE?": "'true' | 'false'",
  "STORAGE_TIMEOUT_MS?": positiveInt,
  "STORAGE_DIR?": "string > 0",
  "STORAGE_EMBEDDED_URL?": httpUrl,
  "UPLOAD_QUOTA_BYTES?": positiveInt,
});

export type RawEnv = typeof envSchema.inferIn;
