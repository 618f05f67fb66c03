import { describe, expect, test } from "bun:test";
import { ConfigError, DEFAULT_CONFIG, loadConfig } from "./config.ts";

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
    expect(loadConfig({ DATABASE_URL: "postgres://u:p@db/app", DATABASE_DRIVER: "postgres" }).database.driver).toBe("postgres");
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

  test("every bad variable is reported at once", () => {
    const message = configError({ PORT: "0", LOG_LEVEL: "loud" });
    expect(message).toContain("PORT");
    expect(message).toContain("LOG_LEVEL");
  });

  test("an ADMIN_TOKEN shaped like a JWT is refused, without echoing it: admin routes would take it for an operator's token", () => {
    const token = `eyJhbGciOiJIUzI1NiJ9.${"a".repeat(40)}.${"b".repeat(40)}`;
    const message = configError({ ADMIN_TOKEN: token });
    expect(message).toContain("ADMIN_TOKEN must not look like a JWT");
    expect(message).not.toContain(token);
    expect(loadConfig({ ADMIN_TOKEN: "a".repeat(48) }).adminToken).toBe("a".repeat(48));
  });

  test("half of the Upstash pair is refused", () => {
    expect(configError({ UPSTASH_REDIS_REST_URL: "https://x.upstash.io" })).toContain("UPSTASH_REDIS_REST_TOKEN must be set");
  });

  test("production refuses to start without DATABASE_URL", () => {
    expect(configError({ NODE_ENV: "production" })).toContain("DATABASE_URL must be set in production");
  });

  test("the message never repeats a secret value", () => {
    const message = configError({ CRON_SECRET: "short-secret", DATABASE_URL: "mysql://admin:hunter2@db" });
    expect(message).not.toContain("short-secret");
    expect(message).not.toContain("hunter2");
  });
});
