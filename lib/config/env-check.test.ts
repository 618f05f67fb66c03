import { describe, expect, test } from "bun:test";
import { type } from "arktype";
import { envSchema } from "./env.ts";
import { checkEnv, type ParsedEnv } from "./env-check.ts";

// The hand-written check must parse to what the schema of record infers, variable for variable.
const sameShape: [ParsedEnv, typeof envSchema.infer] extends [typeof envSchema.infer, ParsedEnv] ? true : false = true;

const KEY = `v1:${Buffer.alloc(32, 7).toString("base64")}`;

const VALID: Record<string, string>[] = [
  {},
  {
    NODE_ENV: "production",
    PORT: "8080",
    LOG_LEVEL: "warn",
    DATABASE_URL: "postgres://u:p@db.example.com:5432/app",
    DATABASE_READ_URL: "postgresql://u:p@replica/app",
    DATABASE_READ_MAX_LAG_MS: "1000",
    DATABASE_READ_AFTER_WRITE_MS: "5000",
    DATABASE_DRIVER: "postgres",
    PGLITE_DATA_DIR: ".data/x",
    NEON_WS_PROXY: "localhost:5488/v1",
    UPSTASH_REDIS_REST_URL: "https://eu1.upstash.io",
    UPSTASH_REDIS_REST_TOKEN: "tok",
    STORE_TIMEOUT_MS: "250",
    RATE_LIMIT_INSTANCES: "3",
    CRON_SECRET: "0123456789abcdef",
    SHUTDOWN_DRAIN_MS: "1",
    READINESS_CACHE_MS: "500",
    TRUST_PROXY: "vercel",
    CORS_ORIGINS: "https://a.example.com, https://b.example.com",
    CORS_CREDENTIALS: "true",
    HSTS_MAX_AGE: "0",
    ADMIN_TOKEN: "a".repeat(32),
    METRICS_TOKEN: "m".repeat(32),
    EMERGENCY_MODE: "off",
    SETTINGS_POLL_MS: "2000",
    ENCRYPTION_KEYS: `v2:${Buffer.alloc(32, 1).toString("base64url")},${KEY}`,
    ENCRYPTION_RETIRED_VERSIONS: "v1,v3",
    JWT_ISSUER: "i",
    JWT_AUDIENCE: "a",
    ACCESS_TOKEN_TTL_SECONDS: "900",
    REFRESH_IDLE_TTL_SECONDS: "60",
    SESSION_ABSOLUTE_TTL_SECONDS: "9007199254740991",
    API_KEY_PREFIX: "abcdefgh",
    HUMAN_VERIFICATION_PROVIDER: "hcaptcha",
    HUMAN_VERIFICATION_SECRET: "s",
    HUMAN_VERIFICATION_URL: "http://127.0.0.1:9/siteverify",
    HUMAN_VERIFICATION_TIMEOUT_MS: "3000",
    COMPRESSION: "off",
    CDN_PURGE_PROVIDER: "vercel",
    CDN_PURGE_URL: "http://127.0.0.1:9/v1/edge-cache/invalidate-by-tags",
    VERCEL_API_TOKEN: "t",
    VERCEL_PROJECT_ID: "prj_1",
    VERCEL_TEAM_ID: "team_1",
    EMAIL_PROVIDER: "resend",
    EMAIL_FROM: "Acme Support <no-reply@acme.example>",
    EMAIL_API_KEY: "re_123",
    EMAIL_API_URL: "http://127.0.0.1:9/emails",
    APP_URL: "http://127.0.0.1:5173",
    EMAIL_VERIFICATION_REQUIRED: "true",
    UNRELATED: "ignored",
  },
  { TRUST_PROXY: "none", HSTS_MAX_AGE: "-1", NODE_ENV: "test", DATABASE_DRIVER: "neon", CORS_CREDENTIALS: "false" },
  { TRUST_PROXY: "99", EMERGENCY_MODE: "on", LOG_LEVEL: "debug", HUMAN_VERIFICATION_PROVIDER: "turnstile" },
  { TRUST_PROXY: "1", NODE_ENV: "development", LOG_LEVEL: "error", API_KEY_PREFIX: "rk", CORS_ORIGINS: "*" },
];

const INVALID: Record<string, string>[] = [
  { NODE_ENV: "prod" },
  { NODE_ENV: "Production" },
  ...["eighty", "0", "-3", "-0", "1.5", " 8", "08", "1e3", "0x10", "+5"].map((PORT) => ({ PORT })),
  { LOG_LEVEL: "loud" },
  { COMPRESSION: "on" },
  { CDN_PURGE_PROVIDER: "cloudflare" },
  { CDN_PURGE_URL: "ftp://127.0.0.1/purge" },
  { VERCEL_API_TOKEN: "" },
  { EMAIL_PROVIDER: "smtp" },
  { EMAIL_FROM: "Acme <no-reply@acme.example>\r\nBcc: x@evil.example" },
  { EMAIL_FROM: "not an address" },
  { APP_URL: "javascript:alert(1)" },
  { EMAIL_VERIFICATION_REQUIRED: "yes" },
  { DATABASE_URL: "mysql://x" },
  { DATABASE_URL: "postgres://" },
  { DATABASE_READ_URL: "https://db" },
  { DATABASE_READ_MAX_LAG_MS: "0" },
  { DATABASE_READ_AFTER_WRITE_MS: "5s" },
  { DATABASE_DRIVER: "mysql" },
  { UPSTASH_REDIS_REST_URL: "ftp://x" },
  { UPSTASH_REDIS_REST_URL: "https://" },
  { STORE_TIMEOUT_MS: "0" },
  { RATE_LIMIT_INSTANCES: "two" },
  { CRON_SECRET: "0123456789abcde" },
  { SHUTDOWN_DRAIN_MS: "-1" },
  { READINESS_CACHE_MS: "1.0" },
  ...["0", "100", "all", "Vercel", " none"].map((TRUST_PROXY) => ({ TRUST_PROXY })),
  { CORS_CREDENTIALS: "yes" },
  { HSTS_MAX_AGE: "x" },
  { HSTS_MAX_AGE: "-0" },
  { ADMIN_TOKEN: "a".repeat(31) },
  { METRICS_TOKEN: "m".repeat(31) },
  { EMERGENCY_MODE: "maybe" },
  { SETTINGS_POLL_MS: "" },
  { ENCRYPTION_KEYS: "x" },
  { ENCRYPTION_KEYS: `${KEY},` },
  { ENCRYPTION_KEYS: KEY.slice(3) },
  { ENCRYPTION_RETIRED_VERSIONS: "1" },
  { ENCRYPTION_RETIRED_VERSIONS: "v1," },
  { JWT_ISSUER: "" },
  { ACCESS_TOKEN_TTL_SECONDS: "15m" },
  { REFRESH_IDLE_TTL_SECONDS: "0" },
  { SESSION_ABSOLUTE_TTL_SECONDS: "-5" },
  { API_KEY_PREFIX: "A" },
  { API_KEY_PREFIX: "abcdefghi" },
  { HUMAN_VERIFICATION_PROVIDER: "recaptcha" },
  { HUMAN_VERIFICATION_URL: "ftp://x" },
  { HUMAN_VERIFICATION_URL: "nope" },
  { HUMAN_VERIFICATION_TIMEOUT_MS: "3s" },
  { PORT: "0", LOG_LEVEL: "loud", CRON_SECRET: "x", DATABASE_DRIVER: "mysql", JWT_AUDIENCE: "" },
];

const DECLARED = new Set(envSchema.props.map((prop) => String(prop.key)));

/** The schema's verdict in checkEnv's terms: its messages without the received value, no undeclared keys. */
function oracle(env: Record<string, string>) {
  const result = envSchema(env);
  if (result instanceof type.errors)
    return { ok: false, problems: result.map((e) => e.message.replace(/ \(was .*\)$/s, "")) };
  return { ok: true, env: Object.fromEntries(Object.entries(result).filter(([name]) => DECLARED.has(name))) };
}

describe("checkEnv against the arktype schema of record", () => {
  test("the parsed types are the schema's", () => {
    expect(sameShape).toBe(true);
  });

  test.each(VALID.map((env, i) => [i, env] as const))(
    "valid environment %d is accepted with the same values",
    (_, env) => {
      expect(checkEnv(env)).toEqual(oracle(env) as ReturnType<typeof checkEnv>);
    },
  );

  test.each(INVALID.map((env) => [JSON.stringify(env), env] as const))(
    "%s is refused with the same messages",
    (_, env) => {
      const verdict = oracle(env);
      expect(verdict.ok).toBe(false);
      expect(checkEnv(env)).toEqual(verdict as ReturnType<typeof checkEnv>);
    },
  );

  test("an integer too large to be exact is refused, as the schema refuses it", () => {
    const env = { PORT: "99999999999999999999" };
    expect(oracle(env).ok).toBe(false);
    expect(checkEnv(env)).toEqual({ ok: false, problems: ["PORT must be a positive integer"] });
  });
});
