/** Typed configuration built from the environment; the only module that reads `process.env`. */
import { ACCESS_TOKEN_SHAPE } from "../core/access-token-shape.ts";
import { checkEnv, type ParsedEnv } from "./env-check.ts";

export type DatabaseConfig =
  | { driver: "pglite"; dataDir: string | undefined }
  | {
      driver: "neon" | "postgres";
      url: string;
      readUrl: string | undefined;
      wsProxy: string | undefined;
      /** Only what the environment sets: lib/db holds the defaults. */
      readRouting: ReadRoutingConfig;
    };

/** When reads leave the replica: past a replay lag, and for a caller's reads shortly after its writes. */
export interface ReadRoutingConfig {
  maxLagMs?: number;
  readAfterWriteMs?: number;
}

export type StoreConfig = { driver: "memory" } | { driver: "upstash"; url: string; token: string; timeoutMs: number };

/**
 * Where uploaded files live: an S3-compatible bucket (S3, R2), files under `.data/` outside production, or
 * nowhere (production without a bucket: upload routes answer 503).
 */
export type StorageConfig =
  | {
      driver: "s3";
      endpoint: string;
      region: string;
      bucket: string;
      accessKeyId: string;
      /** A secret, never logged. */
      secretAccessKey: string;
      pathStyle: boolean;
      timeoutMs: number;
    }
  | { driver: "embedded"; dir: string | undefined; publicUrl: string; timeoutMs: number }
  | { driver: "none" };

/** Which proxy headers carry the client's address: none, Vercel's, or the Nth-from-last X-Forwarded-For hop. */
export type TrustProxy = { kind: "none" } | { kind: "vercel" } | { kind: "hops"; hops: number };

export interface EncryptionKey {
  version: number;
  /** 32 raw bytes for AES-256-GCM. */
  key: Uint8Array;
}

export interface AuthConfig {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshIdleTtlSeconds: number;
  sessionAbsoluteTtlSeconds: number;
  apiKeyPrefix: string;
  /** Passkeys: the relying party's id (a host name) and the exact origins its pages are served from. */
  webauthn: { rpId: string; origins: readonly string[] };
}

export type HumanVerificationProvider = "turnstile" | "hcaptcha";

export interface HumanVerificationConfig {
  provider: HumanVerificationProvider;
  secret: string;
  /** The provider's siteverify endpoint, or HUMAN_VERIFICATION_URL (a stand-in in tests). */
  verifyUrl: string;
  timeoutMs: number;
}

/** Operator channels SLO alerts are sent to; each is off while its variables are unset. */
export interface AlertChannelsConfig {
  /** Slack incoming webhook; the URL is the secret. */
  slack: { webhookUrl: string } | undefined;
  /** PagerDuty Events API v2: the integration's routing key, and the enqueue URL (a stand-in in tests). */
  pagerduty: { routingKey: string; eventsUrl: string } | undefined;
  /** The operator's own endpoint, signed like outbound webhooks (Standard Webhooks). */
  webhook: { url: string; secret: string } | undefined;
}

/** Where tag purges go besides the store; `none` keeps them local (no CDN in front, or one that is not purged). */
export type CdnPurgeConfig =
  | { provider: "none" }
  | {
      provider: "vercel";
      /** A Vercel access token with cache-purge permission; a secret, never logged. */
      token: string;
      projectId: string;
      teamId: string | undefined;
      /** Vercel's invalidate-by-tags endpoint, or CDN_PURGE_URL (a stand-in in tests). */
      url: string;
    };

/** A sign-in provider: an OpenID Connect issuer found by discovery, or GitHub's OAuth with its user API. */
export interface OidcProviderConfig {
  /** The path segment of its routes: `google`, `microsoft`, `github` or `oidc` (OIDC_ISSUER). */
  id: "google" | "microsoft" | "github" | "oidc";
  /** What a sign-in page shows. */
  name: string;
  kind: "oidc" | "github";
  /** The issuer identifier discovery starts from; for GitHub, its web origin (the identity's issuer). */
  issuer: string;
  clientId: string;
  /** Sent only to the provider's token endpoint; never logged. */
  clientSecret: string;
  /** GitHub's REST API origin; unused by OIDC providers. */
  apiUrl: string;
}

export interface OidcConfig {
  /** The public origin the provider sends the browser back to: `<base>/v1/auth/oidc/<id>/callback`. */
  redirectBaseUrl: string;
  providers: readonly OidcProviderConfig[];
  /** http: issuers and redirects (a local provider); never in production. */
  allowHttp: boolean;
}
/**
 * Where e-mail goes: `database` keeps it for `GET /dev/emails` (development only), `resend` sends it through
 * Resend's API, `none` (production without EMAIL_PROVIDER) drops it with a warning.
 */
export type EmailConfig = (
  | { provider: "none" }
  | { provider: "database" }
  | {
      provider: "resend";
      /** Sent as a bearer token; a secret, never logged. */
      apiKey: string;
      /** Resend's `POST /emails`, or EMAIL_API_URL (a stand-in in tests). */
      url: string;
    }
) & {
  from: string;
  /** The origin the links in messages point at (the application's pages, which post the token back). */
  appUrl: string;
  /** Accounts whose address is not verified can neither log in nor create organizations. */
  verificationRequired: boolean;
};

export interface Config {
  env: "development" | "production" | "test";
  port: number;
  logLevel: "debug" | "info" | "warn" | "error";
  database: DatabaseConfig;
  store: StoreConfig;
  /** Instances sharing rate limits; while Redis does not answer, each counts 1/N of a fail-open limit. */
  rateLimitInstances: number;
  cronSecret: string | undefined;
  shutdownDrainMs: number;
  readinessCacheMs: number;
  trustProxy: TrustProxy;
  corsOrigins: string[];
  corsCredentials: boolean;
  hstsMaxAge: number;
  adminToken: string | undefined;
  /** Admits only routes that opt in (`metricsToken: true`): a scraper's credential, not an operator's. */
  metricsToken: string | undefined;
  emergencyMode: boolean;
  settingsPollMs: number;
  /** Newest version first; the first one encrypts. */
  encryptionKeys: EncryptionKey[];
  retiredEncryptionVersions: number[];
  auth: AuthConfig;
  /** Challenges on routes that declare it while emergency mode is on; undefined leaves them unchallenged. */
  humanVerification: HumanVerificationConfig | undefined;
  alertChannels: AlertChannelsConfig;
  /** Outbound webhooks may go to http: and loopback URLs (a receiver on a developer's machine); never in production. */
  webhookLocalEndpoints: boolean;
  /** `auto` compresses large JSON answers by Accept-Encoding; `off` where the CDN in front compresses. */
  compression: "auto" | "off";
  cdnPurge: CdnPurgeConfig;
  /** Sign-in providers; none while no OIDC_* variable is set. */
  oidc: OidcConfig;
  email: EmailConfig;
  storage: StorageConfig;
  /** Bytes each organization may store, pending uploads included. */
  uploadQuotaBytes: number;
}

export const DEFAULT_CONFIG = {
  port: 3000,
  logLevel: "info",
  pgliteDataDir: ".data/pglite",
  storeTimeoutMs: 250,
  rateLimitInstances: 1,
  shutdownDrainMs: 10_000,
  readinessCacheMs: 500,
  hstsMaxAge: 31_536_000,
  settingsPollMs: 2_000,
  auth: {
    issuer: "rampart",
    audience: "rampart-api",
    accessTokenTtlSeconds: 900,
    refreshIdleTtlSeconds: 14 * 86_400,
    sessionAbsoluteTtlSeconds: 30 * 86_400,
    apiKeyPrefix: "rk",
    webauthn: { rpId: "localhost", origins: ["http://localhost:3000"] },
  },
  humanVerification: {
    verifyUrls: {
      turnstile: "https://challenges.cloudflare.com/turnstile/v0/siteverify",
      hcaptcha: "https://api.hcaptcha.com/siteverify",
    },
    // Below the 5 s auth deadline, so a silent provider is answered 503 rather than 504.
    timeoutMs: 3_000,
  },
  pagerdutyEventsUrl: "https://events.pagerduty.com/v2/enqueue",
  compression: "auto",
  vercelPurgeUrl: "https://api.vercel.com/v1/edge-cache/invalidate-by-tags",
  oidc: {
    googleIssuer: "https://accounts.google.com",
    githubUrl: "https://github.com",
    githubApiUrl: "https://api.github.com",
    genericName: "OpenID Connect",
  },
  email: {
    resendUrl: "https://api.resend.com/emails",
    from: "Rampart <no-reply@localhost>",
    appUrl: "http://localhost:3000",
  },
  storageDir: ".data/storage",
  storageTimeoutMs: 10_000,
  uploadQuotaBytes: 1024 ** 3,
} as const;

// Outside production, a fixed key keeps `bun dev` working on a fresh machine. Never valid in production.
const DEVELOPMENT_ENCRYPTION_KEY = "v1:cmFtcGFydC1kZXZlbG9wbWVudC1rZXktZG8tbm90LXU=";

function parseEncryptionKeys(value: string): EncryptionKey[] {
  return value
    .split(",")
    .map((entry) => {
      const [version = "", key = ""] = entry.split(":");
      return { version: Number(version.slice(1)), key: Uint8Array.from(Buffer.from(key, "base64")) };
    })
    .sort((a, b) => b.version - a.version);
}

function parseTrustProxy(value: string | undefined): TrustProxy {
  if (value === undefined || value === "none") return { kind: "none" };
  if (value === "vercel") return { kind: "vercel" };
  return { kind: "hops", hops: Number(value) };
}

function parseOrigins(value: string | undefined, variable = "CORS_ORIGINS"): string[] {
  if (value === undefined) return [];
  const origins = value
    .split(",")
    .map((o) => o.trim())
    .filter((o) => o.length > 0);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    // Only exact origins are allowed: no wildcard, no path, no "null".
    if (parsed === undefined || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) {
      throw new ConfigError(
        `Invalid environment:\n  ${variable} must be a comma-separated list of origins like ` +
          `https://app.example.com (got "${origin}")`,
      );
    }
  }
  return origins;
}

const HUMAN_VERIFICATION_DETAILS = [
  "HUMAN_VERIFICATION_SECRET",
  "HUMAN_VERIFICATION_URL",
  "HUMAN_VERIFICATION_TIMEOUT_MS",
] as const;

function parseHumanVerification(parsed: ParsedEnv, env: Config["env"]): HumanVerificationConfig | undefined {
  const {
    HUMAN_VERIFICATION_PROVIDER: provider,
    HUMAN_VERIFICATION_SECRET: secret,
    HUMAN_VERIFICATION_URL: url,
  } = parsed;
  const invalid = (line: string) => new ConfigError(`Invalid environment:\n  ${line}`);
  if (provider === undefined) {
    const stray = HUMAN_VERIFICATION_DETAILS.find((name) => parsed[name] !== undefined);
    if (stray !== undefined)
      throw invalid(`HUMAN_VERIFICATION_PROVIDER must be set (turnstile or hcaptcha) when ${stray} is set`);
    return undefined;
  }
  if (secret === undefined)
    throw invalid(
      "HUMAN_VERIFICATION_SECRET must be set when HUMAN_VERIFICATION_PROVIDER is set (the provider's secret key)",
    );
  // The secret travels in the request body to this URL.
  if (env === "production" && url?.startsWith("https:") === false)
    throw invalid("HUMAN_VERIFICATION_URL must be an https URL in production (the secret is sent to it)");
  return {
    provider,
    secret,
    verifyUrl: url ?? DEFAULT_CONFIG.humanVerification.verifyUrls[provider],
    timeoutMs: parsed.HUMAN_VERIFICATION_TIMEOUT_MS ?? DEFAULT_CONFIG.humanVerification.timeoutMs,
  };
}

function parseAlertChannels(parsed: ParsedEnv, env: Config["env"]): AlertChannelsConfig {
  const invalid = (line: string) => new ConfigError(`Invalid environment:\n  ${line}`);
  if (parsed.SLO_PAGERDUTY_URL !== undefined && parsed.SLO_PAGERDUTY_ROUTING_KEY === undefined)
    throw invalid("SLO_PAGERDUTY_ROUTING_KEY must be set when SLO_PAGERDUTY_URL is set");
  if ((parsed.SLO_WEBHOOK_URL === undefined) !== (parsed.SLO_WEBHOOK_SECRET === undefined))
    throw invalid(
      `${parsed.SLO_WEBHOOK_URL === undefined ? "SLO_WEBHOOK_URL" : "SLO_WEBHOOK_SECRET"} must be set together ` +
        "with the other SLO_WEBHOOK_* variable",
    );
  // Each of these carries a secret (in its path, its body or a signature key) and alert details.
  for (const name of ["SLO_SLACK_WEBHOOK_URL", "SLO_PAGERDUTY_URL", "SLO_WEBHOOK_URL"] as const)
    if (env === "production" && parsed[name]?.startsWith("https:") === false)
      throw invalid(`${name} must be an https URL in production`);
  return {
    slack: parsed.SLO_SLACK_WEBHOOK_URL === undefined ? undefined : { webhookUrl: parsed.SLO_SLACK_WEBHOOK_URL },
    pagerduty:
      parsed.SLO_PAGERDUTY_ROUTING_KEY === undefined
        ? undefined
        : {
            routingKey: parsed.SLO_PAGERDUTY_ROUTING_KEY,
            eventsUrl: parsed.SLO_PAGERDUTY_URL ?? DEFAULT_CONFIG.pagerdutyEventsUrl,
          },
    webhook:
      parsed.SLO_WEBHOOK_URL === undefined || parsed.SLO_WEBHOOK_SECRET === undefined
        ? undefined
        : { url: parsed.SLO_WEBHOOK_URL, secret: parsed.SLO_WEBHOOK_SECRET },
  };
}

function parseCdnPurge(parsed: ParsedEnv, env: Config["env"]): CdnPurgeConfig {
  const invalid = (line: string) => new ConfigError(`Invalid environment:\n  ${line}`);
  if ((parsed.CDN_PURGE_PROVIDER ?? "none") === "none") {
    const stray = (["VERCEL_API_TOKEN", "VERCEL_PROJECT_ID", "VERCEL_TEAM_ID", "CDN_PURGE_URL"] as const).find(
      (name) => parsed[name] !== undefined,
    );
    if (stray !== undefined) throw invalid(`CDN_PURGE_PROVIDER must be set (vercel) when ${stray} is set`);
    return { provider: "none" };
  }
  const { VERCEL_API_TOKEN: token, VERCEL_PROJECT_ID: projectId, CDN_PURGE_URL: url } = parsed;
  if (token === undefined || projectId === undefined)
    throw invalid(
      `${token === undefined ? "VERCEL_API_TOKEN" : "VERCEL_PROJECT_ID"} must be set when CDN_PURGE_PROVIDER is vercel`,
    );
  // The token travels in the Authorization header to this URL.
  if (env === "production" && url?.startsWith("https:") === false)
    throw invalid("CDN_PURGE_URL must be an https URL in production (the API token is sent to it)");
  return {
    provider: "vercel",
    token,
    projectId,
    teamId: parsed.VERCEL_TEAM_ID,
    url: url ?? DEFAULT_CONFIG.vercelPurgeUrl,
  };
}

// Each provider is on when its client id is set; its secret must come with it.
const OIDC_PROVIDER_VARIABLES = [
  { id: "google", clientId: "OIDC_GOOGLE_CLIENT_ID", secret: "OIDC_GOOGLE_CLIENT_SECRET" },
  { id: "microsoft", clientId: "OIDC_MICROSOFT_CLIENT_ID", secret: "OIDC_MICROSOFT_CLIENT_SECRET" },
  { id: "github", clientId: "OIDC_GITHUB_CLIENT_ID", secret: "OIDC_GITHUB_CLIENT_SECRET" },
  { id: "oidc", clientId: "OIDC_CLIENT_ID", secret: "OIDC_CLIENT_SECRET" },
] as const;

// Their ID tokens name the signing-in user's own tenant, so no fixed issuer could be checked.
const MULTI_TENANT = new Set(["common", "organizations"]);

function parseOidc(parsed: ParsedEnv, env: Config["env"]): OidcConfig {
  const invalid = (line: string) => new ConfigError(`Invalid environment:\n  ${line}`);
  const defaults = DEFAULT_CONFIG.oidc;
  const providers: OidcProviderConfig[] = [];
  for (const { id, clientId: idName, secret: secretName } of OIDC_PROVIDER_VARIABLES) {
    const clientId = parsed[idName];
    const clientSecret = parsed[secretName];
    if (clientId === undefined && clientSecret === undefined) continue;
    if (clientId === undefined || clientSecret === undefined)
      throw invalid(`${clientId === undefined ? idName : secretName} must be set together with the other`);
    const provider = { id, clientId, clientSecret, apiUrl: "" };
    if (id === "google") providers.push({ ...provider, name: "Google", kind: "oidc", issuer: defaults.googleIssuer });
    else if (id === "microsoft") {
      const tenant = parsed.OIDC_MICROSOFT_TENANT;
      if (tenant === undefined || MULTI_TENANT.has(tenant))
        throw invalid(
          "OIDC_MICROSOFT_TENANT must be set to one tenant's id or domain, e.g. contoso.onmicrosoft.com " +
            "(common and organizations issue tokens whose issuer cannot be checked)",
        );
      const issuer = `https://login.microsoftonline.com/${tenant}/v2.0`;
      providers.push({ ...provider, name: "Microsoft", kind: "oidc", issuer });
    } else if (id === "github")
      providers.push({
        ...provider,
        name: "GitHub",
        kind: "github",
        issuer: parsed.OIDC_GITHUB_URL ?? defaults.githubUrl,
        apiUrl: parsed.OIDC_GITHUB_API_URL ?? defaults.githubApiUrl,
      });
    else {
      if (parsed.OIDC_ISSUER === undefined)
        throw invalid("OIDC_ISSUER must be set when OIDC_CLIENT_ID is set (the issuer discovery starts from)");
      const name = parsed.OIDC_NAME ?? defaults.genericName;
      providers.push({ ...provider, name, kind: "oidc", issuer: parsed.OIDC_ISSUER });
    }
  }
  const stray = (
    [
      ["OIDC_MICROSOFT_TENANT", "OIDC_MICROSOFT_CLIENT_ID"],
      ["OIDC_GITHUB_URL", "OIDC_GITHUB_CLIENT_ID"],
      ["OIDC_GITHUB_API_URL", "OIDC_GITHUB_CLIENT_ID"],
      ["OIDC_ISSUER", "OIDC_CLIENT_ID"],
      ["OIDC_NAME", "OIDC_CLIENT_ID"],
    ] as const
  ).find(([name, needs]) => parsed[name] !== undefined && parsed[needs] === undefined);
  if (stray !== undefined) throw invalid(`${stray[1]} must be set when ${stray[0]} is set`);
  const redirectBaseUrl = parsed.OIDC_REDIRECT_BASE_URL;
  if (providers.length > 0 && redirectBaseUrl === undefined)
    throw invalid(
      "OIDC_REDIRECT_BASE_URL must be set when a sign-in provider is configured (this API's public origin, " +
        "e.g. https://api.example.com)",
    );
  // The client secret and the authorization code travel to and from these URLs.
  if (env === "production")
    for (const [name, url] of [
      ["OIDC_REDIRECT_BASE_URL", redirectBaseUrl],
      ["OIDC_ISSUER", parsed.OIDC_ISSUER],
      ["OIDC_GITHUB_URL", parsed.OIDC_GITHUB_URL],
      ["OIDC_GITHUB_API_URL", parsed.OIDC_GITHUB_API_URL],
    ] as const)
      if (url?.startsWith("https:") === false) throw invalid(`${name} must be an https URL in production`);
  return { redirectBaseUrl: (redirectBaseUrl ?? "").replace(/\/+$/, ""), providers, allowHttp: env !== "production" };
}

function parseEmail(parsed: ParsedEnv, env: Config["env"]): EmailConfig {
  const invalid = (line: string) => new ConfigError(`Invalid environment:\n  ${line}`);
  const provider = parsed.EMAIL_PROVIDER ?? (env === "production" ? "none" : "database");
  // The embedded mailbox shows every link, password resets included, to anyone who can reach the dev route.
  if (provider === "database" && env === "production")
    throw invalid("EMAIL_PROVIDER must not be database in production (it is the development mailbox); use resend");
  if (provider !== "resend")
    for (const name of ["EMAIL_API_KEY", "EMAIL_API_URL"] as const)
      if (parsed[name] !== undefined) throw invalid(`EMAIL_PROVIDER must be set (resend) when ${name} is set`);
  if (env === "production" && parsed.APP_URL?.startsWith("https:") === false)
    throw invalid("APP_URL must be an https URL in production (links carry single-use tokens)");
  if (provider === "resend" && env === "production" && parsed.APP_URL === undefined)
    throw invalid("APP_URL must be set when EMAIL_PROVIDER is resend in production, e.g. https://app.example.com");
  const common = {
    from: parsed.EMAIL_FROM ?? DEFAULT_CONFIG.email.from,
    appUrl: new URL(parsed.APP_URL ?? DEFAULT_CONFIG.email.appUrl).origin,
    verificationRequired: parsed.EMAIL_VERIFICATION_REQUIRED === "true",
  };
  if (provider !== "resend") return { provider, ...common };
  if (parsed.EMAIL_API_KEY === undefined) throw invalid("EMAIL_API_KEY must be set when EMAIL_PROVIDER is resend");
  if (parsed.EMAIL_FROM === undefined)
    throw invalid("EMAIL_FROM must be set when EMAIL_PROVIDER is resend, e.g. Acme <no-reply@acme.example>");
  // The API key travels in the Authorization header to this URL.
  if (env === "production" && parsed.EMAIL_API_URL?.startsWith("https:") === false)
    throw invalid("EMAIL_API_URL must be an https URL in production (the API key is sent to it)");
  return {
    provider,
    apiKey: parsed.EMAIL_API_KEY,
    url: parsed.EMAIL_API_URL ?? DEFAULT_CONFIG.email.resendUrl,
    ...common,
  };
}

const S3_VARIABLES = ["S3_ENDPOINT", "S3_REGION", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const;

function parseStorage(parsed: ParsedEnv, env: Config["env"], port: number): StorageConfig {
  const invalid = (line: string) => new ConfigError(`Invalid environment:\n  ${line}`);
  const timeoutMs = parsed.STORAGE_TIMEOUT_MS ?? DEFAULT_CONFIG.storageTimeoutMs;
  if (!S3_VARIABLES.some((name) => parsed[name] !== undefined)) {
    if (env === "production") return { driver: "none" };
    return {
      driver: "embedded",
      dir: parsed.STORAGE_DIR ?? (env === "test" ? undefined : DEFAULT_CONFIG.storageDir),
      // Its own origin: user content is never served from the API's.
      publicUrl: (parsed.STORAGE_EMBEDDED_URL ?? `http://localhost:${port + 1}`).replace(/\/$/, ""),
      timeoutMs,
    };
  }
  const { S3_ENDPOINT: endpoint, S3_REGION: region, S3_BUCKET: bucket } = parsed;
  const { S3_ACCESS_KEY_ID: accessKeyId, S3_SECRET_ACCESS_KEY: secretAccessKey } = parsed;
  const absent = (["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const).find((n) => !parsed[n]);
  if (absent !== undefined || bucket === undefined || accessKeyId === undefined || secretAccessKey === undefined)
    throw invalid(`${absent} must be set when any S3_* variable is set (bucket and both keys are required)`);
  if (endpoint === undefined && region === undefined)
    throw invalid("S3_ENDPOINT or S3_REGION must be set: R2's endpoint, or the AWS region such as eu-west-1");
  // Signed URLs and the secret-derived signatures travel to this host.
  if (env === "production" && endpoint?.startsWith("https:") === false)
    throw invalid("S3_ENDPOINT must be an https URL in production");
  return {
    driver: "s3",
    endpoint: (endpoint ?? `https://s3.${region}.amazonaws.com`).replace(/\/$/, ""),
    region: region ?? "auto",
    bucket,
    accessKeyId,
    secretAccessKey,
    // AWS's own endpoint is addressed by bucket host name; R2 and stand-ins by path.
    pathStyle: parsed.S3_PATH_STYLE === undefined ? endpoint !== undefined : parsed.S3_PATH_STYLE === "true",
    timeoutMs,
  };
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parses and validates an environment; throws ConfigError naming each bad variable. */
export function loadConfig(source: Record<string, string | undefined>): Config {
  const env = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const checked = checkEnv(env);
  if (!checked.ok) throw new ConfigError(`Invalid environment:\n${checked.problems.map((p) => `  ${p}`).join("\n")}`);
  const parsed = checked.env;
  const missing = (name: string, because: string) =>
    new ConfigError(`Invalid environment:\n  ${name} must be set ${because}`);

  const hasUpstashUrl = parsed.UPSTASH_REDIS_REST_URL !== undefined;
  if (hasUpstashUrl !== (parsed.UPSTASH_REDIS_REST_TOKEN !== undefined)) {
    throw missing(
      hasUpstashUrl ? "UPSTASH_REDIS_REST_TOKEN" : "UPSTASH_REDIS_REST_URL",
      "together with the other UPSTASH_REDIS_REST_* variable",
    );
  }
  if (parsed.DATABASE_URL === undefined && parsed.DATABASE_READ_URL !== undefined) {
    throw missing("DATABASE_URL", "when DATABASE_READ_URL is set");
  }
  for (const name of ["DATABASE_READ_MAX_LAG_MS", "DATABASE_READ_AFTER_WRITE_MS"] as const)
    if (parsed[name] !== undefined && parsed.DATABASE_READ_URL === undefined)
      throw missing("DATABASE_READ_URL", `when ${name} is set (it tunes reads from the replica)`);
  const env_ = parsed.NODE_ENV ?? "development";
  if (env_ === "production" && parsed.DATABASE_URL === undefined) {
    throw missing("DATABASE_URL", "in production (the embedded PGlite database is for development)");
  }
  if (env_ === "production" && parsed.ENCRYPTION_KEYS === undefined) {
    throw missing(
      "ENCRYPTION_KEYS",
      "in production, e.g. v1:<32 random bytes in base64>; make one with `echo v1:$(openssl rand -base64 32)`",
    );
  }
  // Admin routes tell the token from an operator's access token by its shape: wrong guesses at a token
  // shaped like one would be taken for refused access tokens, which are not counted.
  for (const name of ["ADMIN_TOKEN", "METRICS_TOKEN"] as const) {
    const token = parsed[name];
    if (token !== undefined && ACCESS_TOKEN_SHAPE.test(token))
      throw new ConfigError(
        `Invalid environment:\n  ${name} must not look like a JWT (eyJ….….…): admin routes tell the two apart by shape`,
      );
  }
  if (env_ === "production" && parsed.WEBHOOK_LOCAL_ENDPOINTS === "true")
    throw new ConfigError(
      "Invalid environment:\n  WEBHOOK_LOCAL_ENDPOINTS must not be true in production (it lets deliveries reach " +
        "loopback addresses)",
    );
  const humanVerification = parseHumanVerification(parsed, env_);
  const encryptionKeys = parseEncryptionKeys(parsed.ENCRYPTION_KEYS ?? DEVELOPMENT_ENCRYPTION_KEY);
  if (encryptionKeys.some((k) => k.key.byteLength !== 32))
    throw missing("ENCRYPTION_KEYS", "with keys of exactly 32 bytes, e.g. from `echo v1:$(openssl rand -base64 32)`");

  const database: DatabaseConfig =
    parsed.DATABASE_URL === undefined
      ? {
          driver: "pglite",
          dataDir: parsed.PGLITE_DATA_DIR ?? (env_ === "test" ? undefined : DEFAULT_CONFIG.pgliteDataDir),
        }
      : {
          driver: parsed.DATABASE_DRIVER ?? "neon",
          url: parsed.DATABASE_URL,
          readUrl: parsed.DATABASE_READ_URL,
          wsProxy: parsed.NEON_WS_PROXY,
          readRouting: {
            ...(parsed.DATABASE_READ_MAX_LAG_MS !== undefined && { maxLagMs: parsed.DATABASE_READ_MAX_LAG_MS }),
            ...(parsed.DATABASE_READ_AFTER_WRITE_MS !== undefined && {
              readAfterWriteMs: parsed.DATABASE_READ_AFTER_WRITE_MS,
            }),
          },
        };

  const store: StoreConfig =
    parsed.UPSTASH_REDIS_REST_URL !== undefined && parsed.UPSTASH_REDIS_REST_TOKEN !== undefined
      ? {
          driver: "upstash",
          url: parsed.UPSTASH_REDIS_REST_URL,
          token: parsed.UPSTASH_REDIS_REST_TOKEN,
          timeoutMs: parsed.STORE_TIMEOUT_MS ?? DEFAULT_CONFIG.storeTimeoutMs,
        }
      : { driver: "memory" };

  return {
    env: env_,
    port: parsed.PORT ?? DEFAULT_CONFIG.port,
    logLevel: parsed.LOG_LEVEL ?? DEFAULT_CONFIG.logLevel,
    database,
    store,
    rateLimitInstances: parsed.RATE_LIMIT_INSTANCES ?? DEFAULT_CONFIG.rateLimitInstances,
    cronSecret: parsed.CRON_SECRET,
    shutdownDrainMs: parsed.SHUTDOWN_DRAIN_MS ?? DEFAULT_CONFIG.shutdownDrainMs,
    readinessCacheMs: parsed.READINESS_CACHE_MS ?? DEFAULT_CONFIG.readinessCacheMs,
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
    corsOrigins: parseOrigins(parsed.CORS_ORIGINS),
    corsCredentials: parsed.CORS_CREDENTIALS === "true",
    hstsMaxAge: parsed.HSTS_MAX_AGE ?? DEFAULT_CONFIG.hstsMaxAge,
    adminToken: parsed.ADMIN_TOKEN,
    metricsToken: parsed.METRICS_TOKEN,
    emergencyMode: parsed.EMERGENCY_MODE === "on",
    settingsPollMs: parsed.SETTINGS_POLL_MS ?? DEFAULT_CONFIG.settingsPollMs,
    encryptionKeys,
    retiredEncryptionVersions: (parsed.ENCRYPTION_RETIRED_VERSIONS ?? "")
      .split(",")
      .filter((v) => v !== "")
      .map((v) => Number(v.slice(1))),
    auth: {
      issuer: parsed.JWT_ISSUER ?? DEFAULT_CONFIG.auth.issuer,
      audience: parsed.JWT_AUDIENCE ?? DEFAULT_CONFIG.auth.audience,
      accessTokenTtlSeconds: parsed.ACCESS_TOKEN_TTL_SECONDS ?? DEFAULT_CONFIG.auth.accessTokenTtlSeconds,
      refreshIdleTtlSeconds: parsed.REFRESH_IDLE_TTL_SECONDS ?? DEFAULT_CONFIG.auth.refreshIdleTtlSeconds,
      sessionAbsoluteTtlSeconds: parsed.SESSION_ABSOLUTE_TTL_SECONDS ?? DEFAULT_CONFIG.auth.sessionAbsoluteTtlSeconds,
      apiKeyPrefix: parsed.API_KEY_PREFIX ?? DEFAULT_CONFIG.auth.apiKeyPrefix,
      webauthn: {
        rpId: parsed.WEBAUTHN_RP_ID ?? DEFAULT_CONFIG.auth.webauthn.rpId,
        origins:
          parsed.WEBAUTHN_ORIGINS === undefined
            ? DEFAULT_CONFIG.auth.webauthn.origins
            : parseOrigins(parsed.WEBAUTHN_ORIGINS, "WEBAUTHN_ORIGINS"),
      },
    },
    humanVerification,
    alertChannels: parseAlertChannels(parsed, env_),
    webhookLocalEndpoints: parsed.WEBHOOK_LOCAL_ENDPOINTS === "true",
    compression: parsed.COMPRESSION ?? DEFAULT_CONFIG.compression,
    cdnPurge: parseCdnPurge(parsed, env_),
    oidc: parseOidc(parsed, env_),
    email: parseEmail(parsed, env_),
    storage: parseStorage(parsed, env_, parsed.PORT ?? DEFAULT_CONFIG.port),
    uploadQuotaBytes: parsed.UPLOAD_QUOTA_BYTES ?? DEFAULT_CONFIG.uploadQuotaBytes,
  };
}
