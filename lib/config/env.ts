/** Every environment variable Rampart reads, declared and validated once at start-up. */
import { type } from "arktype";

const positiveInt = type("string.integer.parse").pipe((n, ctx) => (n > 0 ? n : ctx.error("a positive integer")));

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
});

export type RawEnv = typeof envSchema.inferIn;
