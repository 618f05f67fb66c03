import { describe, expect, test } from "bun:test";
import { ConfigError, DEFAULT_CONFIG, loadConfig } from "./config.ts";
import { envSchema } from "./env.ts";

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  test("with no configuration selects the embedded database and the in-process store", () => {
    const config = loadConfig({});
    expect(config.database).toEqual({ driver: "pglite", dataDir: DEFAULT_CONFIG.pgliteDataDir });
    expect(config.store).toEqual({ driver: "memory" });
    expect(config.port).toBe(3000);
  });

  test("DATABASE_URL selects the Neon driver, DATABASE_DRIVER=postgres the TCP driver", () => {
    expect(loadConfig({ DATABASE_URL: "postgres://u:p@db.example.com/app" }).database.driver).toBe("neon");
    expect(loadConfig({ DATABASE_URL: "postgres://u:p@db/app", DATABASE_DRIVER: "postgres" }).database.driver).toBe(
      "postgres",
    );
  });

  test("read routing: the replica's lag limit and read-your-writes window, only beside DATABASE_READ_URL", () => {
    const replica = { DATABASE_URL: "postgres://u:p@db/app", DATABASE_READ_URL: "postgres://u:p@replica/app" };
    expect(loadConfig(replica).database).toMatchObject({ readRouting: {} });
    expect(
      loadConfig({ ...replica, DATABASE_READ_MAX_LAG_MS: "2000", DATABASE_READ_AFTER_WRITE_MS: "10000" }).database,
    ).toMatchObject({ readRouting: { maxLagMs: 2000, readAfterWriteMs: 10000 } });
    expect(configError({ ...replica, DATABASE_READ_MAX_LAG_MS: "0" })).toContain(
      "DATABASE_READ_MAX_LAG_MS must be a positive integer",
    );
    expect(configError({ DATABASE_URL: replica.DATABASE_URL, DATABASE_READ_AFTER_WRITE_MS: "5000" })).toContain(
      "DATABASE_READ_URL must be set when DATABASE_READ_AFTER_WRITE_MS is set",
    );
  });

  test("Upstash variables select the Redis store with a deadline of at most 250 ms by default", () => {
    const config = loadConfig({ UPSTASH_REDIS_REST_URL: "https://eu1.upstash.io", UPSTASH_REDIS_REST_TOKEN: "tok" });
    expect(config.store).toEqual({ driver: "upstash", url: "https://eu1.upstash.io", token: "tok", timeoutMs: 250 });
  });

  test("a bad value names the variable and what is expected", () => {
    expect(configError({ PORT: "eighty" })).toContain("PORT must be");
    expect(configError({ DATABASE_DRIVER: "mysql" })).toContain('DATABASE_DRIVER must be "neon" or "postgres"');
    expect(configError({ DATABASE_URL: "mysql://x" })).toContain("DATABASE_URL");
  });

  test("a bad TRUST_PROXY or ENCRYPTION_KEYS is explained with an example of a valid value, not a pattern", () => {
    expect(configError({ TRUST_PROXY: "yes" })).toContain(
      "TRUST_PROXY must be none, vercel, or a number of trusted X-Forwarded-For hops from 1 to 99, e.g. " +
        "TRUST_PROXY=vercel",
    );
    const keys = configError({ ENCRYPTION_KEYS: "not-a-key" });
    expect(keys).toContain("ENCRYPTION_KEYS must be versioned 32-byte keys in base64, e.g. v2:<key>,v1:<key>");
    expect(keys).toContain("echo v1:$(openssl rand -base64 32)");
  });

  test("no variable's message shows a regular expression or a parser's wording", () => {
    const unclear = envSchema.props
      .map((prop) => `${String(prop.key)} must be ${prop.value.description}`)
      .filter((message) => /matched by|well-formed|\^|\\/.test(message));
    expect(unclear).toEqual([]);
    expect(configError({ PORT: "eighty" })).toContain("PORT must be a positive integer");
    expect(configError({ DATABASE_URL: "mysql://db/app" })).toContain(
      "DATABASE_URL must be a PostgreSQL URL, e.g. postgres://",
    );
    expect(configError({ CRON_SECRET: "short" })).toContain("CRON_SECRET must be at least 16 characters");
  });

  test("every bad variable is reported at once", () => {
    const message = configError({ PORT: "0", LOG_LEVEL: "loud" });
    expect(message).toContain("PORT");
    expect(message).toContain("LOG_LEVEL");
  });

  test(
    "an ADMIN_TOKEN shaped like a JWT is refused, without echoing it: admin routes would take it for an " +
      "operator's token",
    () => {
      const token = `eyJhbGciOiJIUzI1NiJ9.${"a".repeat(40)}.${"b".repeat(40)}`;
      const message = configError({ ADMIN_TOKEN: token });
      expect(message).toContain("ADMIN_TOKEN must not look like a JWT");
      expect(message).not.toContain(token);
      expect(loadConfig({ ADMIN_TOKEN: "a".repeat(48) }).adminToken).toBe("a".repeat(48));
    },
  );

  test("a METRICS_TOKEN shaped like a JWT is refused, without echoing it", () => {
    const token = `eyJhbGciOiJIUzI1NiJ9.${"a".repeat(40)}.${"b".repeat(40)}`;
    const message = configError({ METRICS_TOKEN: token });
    expect(message).toContain("METRICS_TOKEN must not look like a JWT");
    expect(message).not.toContain(token);
    expect(loadConfig({ METRICS_TOKEN: "m".repeat(48) }).metricsToken).toBe("m".repeat(48));
  });

  test("half of the Upstash pair is refused", () => {
    expect(configError({ UPSTASH_REDIS_REST_URL: "https://x.upstash.io" })).toContain(
      "UPSTASH_REDIS_REST_TOKEN must be set",
    );
  });

  test("storage is embedded by default, S3 or R2 from S3_*, and a partial S3 set names what is missing", () => {
    expect(loadConfig({ NODE_ENV: "development", PORT: "4000" }).storage).toEqual({
      driver: "embedded",
      dir: ".data/storage",
      publicUrl: "http://localhost:4001",
      timeoutMs: 10_000,
    });
    const r2 = { S3_ENDPOINT: "https://acct.r2.cloudflarestorage.com", S3_REGION: "auto", S3_BUCKET: "files" };
    const keys = { S3_ACCESS_KEY_ID: "id", S3_SECRET_ACCESS_KEY: "do-not-echo" };
    expect(loadConfig({ ...r2, ...keys }).storage).toMatchObject({ driver: "s3", pathStyle: true, region: "auto" });
    expect(loadConfig({ S3_REGION: "eu-west-1", S3_BUCKET: "files", ...keys }).storage).toMatchObject({
      endpoint: "https://s3.eu-west-1.amazonaws.com",
      pathStyle: false,
    });
    const message = configError({ ...r2, S3_SECRET_ACCESS_KEY: "do-not-echo" });
    expect(message).toContain("S3_ACCESS_KEY_ID must be set when any S3_* variable is set");
    expect(message).not.toContain("do-not-echo");
    expect(configError({ S3_BUCKET: "files", ...keys })).toContain("S3_ENDPOINT or S3_REGION must be set");
  });

  test("production refuses to start without DATABASE_URL", () => {
    expect(configError({ NODE_ENV: "production" })).toContain("DATABASE_URL must be set in production");
  });

  test("production refuses WEBHOOK_LOCAL_ENDPOINTS=true; development allows it", () => {
    const production = {
      NODE_ENV: "production",
      DATABASE_URL: "postgres://u:p@db.example.com/app",
      ENCRYPTION_KEYS: `v1:${"A".repeat(43)}=`,
    };
    expect(configError({ ...production, WEBHOOK_LOCAL_ENDPOINTS: "true" })).toContain(
      "WEBHOOK_LOCAL_ENDPOINTS must not be true in production",
    );
    expect(loadConfig({ NODE_ENV: "development", WEBHOOK_LOCAL_ENDPOINTS: "true" }).webhookLocalEndpoints).toBe(true);
    expect(loadConfig(production).webhookLocalEndpoints).toBe(false);
  });

  test("the message never repeats a secret value", () => {
    const message = configError({ CRON_SECRET: "short-secret", DATABASE_URL: "mysql://admin:hunter2@db" });
    expect(message).not.toContain("short-secret");
    expect(message).not.toContain("hunter2");
  });

  describe("human verification", () => {
    const secret = "0x4AAAAAAA-secret-never-echoed";

    test("a provider and its secret select the provider's siteverify endpoint and a 3 s timeout", () => {
      expect(
        loadConfig({ HUMAN_VERIFICATION_PROVIDER: "hcaptcha", HUMAN_VERIFICATION_SECRET: secret }).humanVerification,
      ).toEqual({
        provider: "hcaptcha",
        secret,
        verifyUrl: "https://api.hcaptcha.com/siteverify",
        timeoutMs: 3_000,
      });
      expect(
        loadConfig({ HUMAN_VERIFICATION_PROVIDER: "turnstile", HUMAN_VERIFICATION_SECRET: secret }).humanVerification
          ?.verifyUrl,
      ).toBe("https://challenges.cloudflare.com/turnstile/v0/siteverify");
      expect(loadConfig({}).humanVerification).toBeUndefined();
    });

    test("half a configuration is refused, naming what is missing, without echoing the secret", () => {
      expect(configError({ HUMAN_VERIFICATION_PROVIDER: "turnstile" })).toContain(
        "HUMAN_VERIFICATION_SECRET must be set when HUMAN_VERIFICATION_PROVIDER is set",
      );
      const message = configError({ HUMAN_VERIFICATION_SECRET: secret });
      expect(message).toContain(
        "HUMAN_VERIFICATION_PROVIDER must be set (turnstile or hcaptcha) when HUMAN_VERIFICATION_SECRET is set",
      );
      expect(message).not.toContain(secret);
    });

    test("an unknown provider, a URL that is not http(s) and plain http in production are refused", () => {
      expect(configError({ HUMAN_VERIFICATION_PROVIDER: "recaptcha", HUMAN_VERIFICATION_SECRET: secret })).toContain(
        'HUMAN_VERIFICATION_PROVIDER must be "hcaptcha" or "turnstile"',
      );
      expect(
        configError({
          HUMAN_VERIFICATION_PROVIDER: "turnstile",
          HUMAN_VERIFICATION_SECRET: secret,
          HUMAN_VERIFICATION_URL: "ftp://x",
        }),
      ).toContain("HUMAN_VERIFICATION_URL must be an http(s) URL");
      const production = {
        NODE_ENV: "production",
        DATABASE_URL: "postgres://u:p@db/app",
        ENCRYPTION_KEYS: `v1:${Buffer.alloc(32, 1).toString("base64")}`,
      };
      expect(
        configError({
          ...production,
          HUMAN_VERIFICATION_PROVIDER: "turnstile",
          HUMAN_VERIFICATION_SECRET: secret,
          HUMAN_VERIFICATION_URL: "http://verify.internal/siteverify",
        }),
      ).toContain("HUMAN_VERIFICATION_URL must be an https URL in production");
    });
  });
});

describe("e-mail configuration", () => {
  const apiKey = "re_secret_never_echoed_0123";
  const production = {
    NODE_ENV: "production",
    DATABASE_URL: "postgres://u:p@db/app",
    ENCRYPTION_KEYS: `v1:${Buffer.alloc(32, 1).toString("base64")}`,
  };
  const resend = { EMAIL_PROVIDER: "resend", EMAIL_API_KEY: apiKey, EMAIL_FROM: "Acme <no-reply@acme.example>" };

  test("development keeps mail in the database; production without a provider sends none", () => {
    expect(loadConfig({}).email).toEqual({
      provider: "database",
      from: "Rampart <no-reply@localhost>",
      appUrl: "http://localhost:3000",
      verificationRequired: false,
    });
    expect(loadConfig(production).email.provider).toBe("none");
  });

  test("resend takes its key, sender and Resend's endpoint; APP_URL is reduced to its origin", () => {
    expect(
      loadConfig({ ...resend, APP_URL: "https://app.acme.example/", EMAIL_VERIFICATION_REQUIRED: "true" }).email,
    ).toEqual({
      provider: "resend",
      apiKey,
      url: "https://api.resend.com/emails",
      from: "Acme <no-reply@acme.example>",
      appUrl: "https://app.acme.example",
      verificationRequired: true,
    });
  });

  test("half a configuration is refused, naming what is missing, without echoing the key", () => {
    expect(configError({ EMAIL_PROVIDER: "resend", EMAIL_FROM: "a@b.example" })).toContain(
      "EMAIL_API_KEY must be set when EMAIL_PROVIDER is resend",
    );
    const message = configError({ EMAIL_PROVIDER: "resend", EMAIL_API_KEY: apiKey });
    expect(message).toContain("EMAIL_FROM must be set when EMAIL_PROVIDER is resend");
    expect(message).not.toContain(apiKey);
    expect(configError({ EMAIL_API_KEY: apiKey })).toContain("EMAIL_PROVIDER must be set (resend) when EMAIL_API_KEY");
  });

  test("production refuses the development mailbox, plain-http endpoints and links, and resend without APP_URL", () => {
    expect(configError({ ...production, EMAIL_PROVIDER: "database" })).toContain(
      "EMAIL_PROVIDER must not be database in production",
    );
    expect(loadConfig({ ...production, ...resend, APP_URL: "https://app.acme.example" }).email.provider).toBe("resend");
    expect(configError({ ...production, ...resend })).toContain("APP_URL must be set when EMAIL_PROVIDER is resend");
    expect(configError({ ...production, ...resend, APP_URL: "http://app.acme.example" })).toContain(
      "APP_URL must be an https URL in production",
    );
    expect(
      configError({ ...production, ...resend, APP_URL: "https://a.example", EMAIL_API_URL: "http://mail.internal/e" }),
    ).toContain("EMAIL_API_URL must be an https URL in production");
  });
});
