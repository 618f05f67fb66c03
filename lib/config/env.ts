/** Every environment variable Rampart reads, declared and validated once at start-up. */
import { type } from "arktype";

const positiveInt = type("string.integer.parse").pipe((n, ctx) => (n > 0 ? n : ctx.error("a positive integer")));
const httpUrl = type("string").narrow(
  (value, ctx) => (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)) || ctx.mustBe("an http(s) URL such as https://verify.example.com/siteverify"),
);

export const envSchema = type({
  "NODE_ENV?": "'development' | 'production' | 'test'",
  "PORT?": positiveInt,
  "LOG_LEVEL?": "'debug' | 'info' | 'warn' | 'error'",
  "DATABASE_URL?": /^postgres(ql)?:\/\/.+/,
  "DATABASE_READ_URL?": /^postgres(ql)?:\/\/.+/,
  "DATABASE_DRIVER?": "'neon' | 'postgres'",
  "PGLITE_DATA_DIR?": "string > 0",
  "NEON_WS_PROXY?": "string > 0",
  "UPSTASH_REDIS_REST_URL?": /^https?:\/\/.+/,
  "UPSTASH_REDIS_REST_TOKEN?": "string > 0",
  "STORE_TIMEOUT_MS?": positiveInt,
  "RATE_LIMIT_INSTANCES?": positiveInt,
  "CRON_SECRET?": "string >= 16",
  "SHUTDOWN_DRAIN_MS?": positiveInt,
  "READINESS_CACHE_MS?": positiveInt,
  "TRUST_PROXY?": /^(none|vercel|[1-9][0-9]?)$/,
  "CORS_ORIGINS?": "string",
  "CORS_CREDENTIALS?": "'true' | 'false'",
  "HSTS_MAX_AGE?": "string.integer.parse",
  "ADMIN_TOKEN?": "string >= 32",
  "EMERGENCY_MODE?": "'on' | 'off'",
  "SETTINGS_POLL_MS?": positiveInt,
  "ENCRYPTION_KEYS?": /^v\d+:[A-Za-z0-9+/_-]{43}=?(,v\d+:[A-Za-z0-9+/_-]{43}=?)*$/,
  "ENCRYPTION_RETIRED_VERSIONS?": /^v\d+(,v\d+)*$/,
  "JWT_ISSUER?": "string > 0",
  "JWT_AUDIENCE?": "string > 0",
  "ACCESS_TOKEN_TTL_SECONDS?": positiveInt,
  "REFRESH_IDLE_TTL_SECONDS?": positiveInt,
  "SESSION_ABSOLUTE_TTL_SECONDS?": positiveInt,
  "API_KEY_PREFIX?": /^[a-z]{2,8}$/,
  "HUMAN_VERIFICATION_PROVIDER?": "'turnstile' | 'hcaptcha'",
  "HUMAN_VERIFICATION_SECRET?": "string > 0",
  "HUMAN_VERIFICATION_URL?": httpUrl,
  "HUMAN_VERIFICATION_TIMEOUT_MS?": positiveInt,
});

export type RawEnv = typeof envSchema.inferIn;
