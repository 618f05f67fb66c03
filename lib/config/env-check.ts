/**
 * The start-up check of the environment, by hand: importing arktype costs a function ~300 ms of CPU on a cold
 * start, which health and the other functions that validate no input need not pay. lib/config/env.ts stays the
 * schema of record; env-check.test.ts feeds both the same environments and expects the same verdicts.
 */

/** Parses one variable's value, or returns undefined when the value is not valid. */
interface Rule<T> {
  /** What a valid value is, as the error message says it: "PORT must be <description>". */
  description: string;
  parse(value: string): T | undefined;
}

// Error messages name an example of a valid value, never the pattern that checks it.
const INTEGER = /^(?:0|-?[1-9]\d*)$/;

const integer = (description: string): Rule<number> => ({
  description,
  parse: (value) => (INTEGER.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : undefined),
});

const positiveInt: Rule<number> = {
  description: "a positive integer",
  parse: (value) => {
    const n = integer("").parse(value);
    return n !== undefined && n > 0 ? n : undefined;
  },
};

const matching = (pattern: RegExp, description: string): Rule<string> => ({
  description,
  parse: (value) => (pattern.test(value) ? value : undefined),
});

const atLeast = (length: number, description: string): Rule<string> => ({
  description,
  parse: (value) => (value.length >= length ? value : undefined),
});

const nonEmpty = atLeast(1, "non-empty");

const anyString: Rule<string> = { description: "a string", parse: (value) => value };

/** A few literal values as arktype lists them: sorted and quoted, as in `"neon" or "postgres"`. */
export function describeAlternatives(values: readonly string[]): string {
  const quoted = values.map((v) => JSON.stringify(v)).sort();
  return quoted.length === 1 ? `${quoted[0]}` : `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`;
}

/** One of a few literal values. */
function oneOf<const T extends string>(...values: T[]): Rule<T> {
  return { description: describeAlternatives(values), parse: (value) => values.find((v) => v === value) };
}

const postgresUrl = matching(
  /^postgres(ql)?:\/\/.+/,
  "a PostgreSQL URL, e.g. postgres://user:password@db.example.com:5432/app",
);

const httpUrl: Rule<string> = {
  description: "an http(s) URL such as https://verify.example.com/siteverify",
  parse: (value) => (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol) ? value : undefined),
};

const RULES = {
  NODE_ENV: oneOf("development", "production", "test"),
  PORT: positiveInt,
  LOG_LEVEL: oneOf("debug", "info", "warn", "error"),
  DATABASE_URL: postgresUrl,
  DATABASE_READ_URL: postgresUrl,
  DATABASE_READ_MAX_LAG_MS: positiveInt,
  DATABASE_READ_AFTER_WRITE_MS: positiveInt,
  DATABASE_DRIVER: oneOf("neon", "postgres"),
  PGLITE_DATA_DIR: nonEmpty,
  NEON_WS_PROXY: nonEmpty,
  UPSTASH_REDIS_REST_URL: matching(/^https?:\/\/.+/, "an http(s) URL, e.g. https://eu1-example-12345.upstash.io"),
  UPSTASH_REDIS_REST_TOKEN: nonEmpty,
  STORE_TIMEOUT_MS: positiveInt,
  RATE_LIMIT_INSTANCES: positiveInt,
  CRON_SECRET: atLeast(16, "at least 16 characters, e.g. from `openssl rand -hex 32`"),
  SHUTDOWN_DRAIN_MS: positiveInt,
  READINESS_CACHE_MS: positiveInt,
  TRUST_PROXY: matching(
    /^(none|vercel|[1-9][0-9]?)$/,
    "none, vercel, or a number of trusted X-Forwarded-For hops from 1 to 99, e.g. TRUST_PROXY=vercel",
  ),
  CORS_ORIGINS: anyString,
  CORS_CREDENTIALS: oneOf("true", "false"),
  WEBHOOK_LOCAL_ENDPOINTS: oneOf("true", "false"),
  COMPRESSION: oneOf("auto", "off"),
  CDN_PURGE_PROVIDER: oneOf("vercel", "none"),
  CDN_PURGE_URL: httpUrl,
  VERCEL_API_TOKEN: nonEmpty,
  VERCEL_PROJECT_ID: nonEmpty,
  VERCEL_TEAM_ID: nonEmpty,
  HSTS_MAX_AGE: integer("a number of seconds, e.g. 31536000 (0 leaves the header out)"),
  ADMIN_TOKEN: atLeast(32, "at least 32 characters, e.g. from `openssl rand -hex 32`"),
  METRICS_TOKEN: atLeast(32, "at least 32 characters, e.g. from `openssl rand -hex 32`"),
  EMERGENCY_MODE: oneOf("on", "off"),
  SETTINGS_POLL_MS: positiveInt,
  ENCRYPTION_KEYS: matching(
    /^v\d+:[A-Za-z0-9+/_-]{43}=?(,v\d+:[A-Za-z0-9+/_-]{43}=?)*$/,
    "versioned 32-byte keys in base64, e.g. v2:<key>,v1:<key>; make one with `echo v1:$(openssl rand -base64 32)`",
  ),
  ENCRYPTION_RETIRED_VERSIONS: matching(/^v\d+(,v\d+)*$/, "key versions, e.g. v1 or v1,v2"),
  JWT_ISSUER: nonEmpty,
  WEBAUTHN_RP_ID: matching(/^[a-z0-9.-]+$/, "a host name, e.g. example.com"),
  WEBAUTHN_ORIGINS: anyString,
  JWT_AUDIENCE: nonEmpty,
  ACCESS_TOKEN_TTL_SECONDS: positiveInt,
  REFRESH_IDLE_TTL_SECONDS: positiveInt,
  SESSION_ABSOLUTE_TTL_SECONDS: positiveInt,
  API_KEY_PREFIX: matching(/^[a-z]{2,8}$/, "2 to 8 lower-case letters, e.g. rk"),
  HUMAN_VERIFICATION_PROVIDER: oneOf("turnstile", "hcaptcha"),
  HUMAN_VERIFICATION_SECRET: nonEmpty,
  HUMAN_VERIFICATION_URL: httpUrl,
  HUMAN_VERIFICATION_TIMEOUT_MS: positiveInt,
  OIDC_REDIRECT_BASE_URL: httpUrl,
  OIDC_GOOGLE_CLIENT_ID: nonEmpty,
  OIDC_GOOGLE_CLIENT_SECRET: nonEmpty,
  OIDC_MICROSOFT_CLIENT_ID: nonEmpty,
  OIDC_MICROSOFT_CLIENT_SECRET: nonEmpty,
  OIDC_MICROSOFT_TENANT: matching(/^[A-Za-z0-9.-]+$/, "a tenant id or domain, e.g. contoso.onmicrosoft.com"),
  OIDC_GITHUB_CLIENT_ID: nonEmpty,
  OIDC_GITHUB_CLIENT_SECRET: nonEmpty,
  OIDC_GITHUB_URL: httpUrl,
  OIDC_GITHUB_API_URL: httpUrl,
  OIDC_ISSUER: httpUrl,
  OIDC_CLIENT_ID: nonEmpty,
  OIDC_CLIENT_SECRET: nonEmpty,
  OIDC_NAME: nonEmpty,
  SLO_SLACK_WEBHOOK_URL: httpUrl,
  SLO_PAGERDUTY_ROUTING_KEY: nonEmpty,
  SLO_PAGERDUTY_URL: httpUrl,
  SLO_WEBHOOK_URL: httpUrl,
  SLO_WEBHOOK_SECRET: matching(
    /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/,
    "a Standard Webhooks secret, e.g. whsec_$(openssl rand -base64 32)",
  ),
  EMAIL_PROVIDER: oneOf("database", "resend"),
  EMAIL_FROM: matching(
    /^(?:[^\r\n<>"]{1,100} )?<?[^\s<>@]+@[^\s<>@]+>?$/,
    "a sender address, e.g. Acme <no-reply@acme.example>",
  ),
  EMAIL_API_KEY: nonEmpty,
  EMAIL_API_URL: httpUrl,
  APP_URL: httpUrl,
  EMAIL_VERIFICATION_REQUIRED: oneOf("true", "false"),
  S3_ENDPOINT: httpUrl,
  S3_REGION: nonEmpty,
  S3_BUCKET: nonEmpty,
  S3_ACCESS_KEY_ID: nonEmpty,
  S3_SECRET_ACCESS_KEY: nonEmpty,
  S3_PATH_STYLE: oneOf("true", "false"),
  STORAGE_TIMEOUT_MS: positiveInt,
  STORAGE_DIR: nonEmpty,
  STORAGE_EMBEDDED_URL: httpUrl,
  UPLOAD_QUOTA_BYTES: positiveInt,
} satisfies Record<string, Rule<unknown>>;

/** Every variable Rampart reads, parsed; the ones not set are absent. */
export type ParsedEnv = { [K in keyof typeof RULES]?: (typeof RULES)[K] extends Rule<infer T> ? T : never };

export type EnvCheck = { ok: true; env: ParsedEnv } | { ok: false; problems: string[] };

/**
 * Checks each variable Rampart reads; variables it does not read are ignored.
 * @returns the parsed values, or one "NAME must be …" line per bad variable, sorted by name. The received
 * value is left out: several of these variables hold secrets.
 */
export function checkEnv(source: Record<string, string | undefined>): EnvCheck {
  const env: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const name of Object.keys(RULES).sort() as (keyof typeof RULES)[]) {
    const value = source[name];
    if (value === undefined) continue;
    const rule: Rule<unknown> = RULES[name];
    const parsed = rule.parse(value);
    if (parsed === undefined) problems.push(`${name} must be ${rule.description}`);
    else env[name] = parsed;
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, env: env as ParsedEnv };
}
