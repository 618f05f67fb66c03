import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "./config.ts";

const SECRET = "client-secret-never-echoed";
const BASE = { OIDC_REDIRECT_BASE_URL: "https://api.example.com/" };
const PRODUCTION = {
  NODE_ENV: "production",
  DATABASE_URL: "postgres://u:p@db/app",
  ENCRYPTION_KEYS: `v1:${Buffer.alloc(32, 1).toString("base64")}`,
};

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error("expected a ConfigError");
}

describe("sign-in provider configuration", () => {
  test("no variable configures no provider, and bun dev starts as before", () => {
    expect(loadConfig({}).oidc.providers).toEqual([]);
  });

  test("each provider's pair turns it on, with its issuer and the redirect base without a trailing slash", () => {
    const { oidc } = loadConfig({
      ...BASE,
      OIDC_GOOGLE_CLIENT_ID: "g",
      OIDC_GOOGLE_CLIENT_SECRET: SECRET,
      OIDC_MICROSOFT_CLIENT_ID: "m",
      OIDC_MICROSOFT_CLIENT_SECRET: SECRET,
      OIDC_MICROSOFT_TENANT: "contoso.onmicrosoft.com",
      OIDC_GITHUB_CLIENT_ID: "gh",
      OIDC_GITHUB_CLIENT_SECRET: SECRET,
      OIDC_ISSUER: "https://example.okta.com",
      OIDC_CLIENT_ID: "o",
      OIDC_CLIENT_SECRET: SECRET,
      OIDC_NAME: "Okta",
    });
    expect(oidc.redirectBaseUrl).toBe("https://api.example.com");
    expect(oidc.providers.map(({ id, name, kind, issuer }) => ({ id, name, kind, issuer }))).toEqual([
      { id: "google", name: "Google", kind: "oidc", issuer: "https://accounts.google.com" },
      {
        id: "microsoft",
        name: "Microsoft",
        kind: "oidc",
        issuer: "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0",
      },
      { id: "github", name: "GitHub", kind: "github", issuer: "https://github.com" },
      { id: "oidc", name: "Okta", kind: "oidc", issuer: "https://example.okta.com" },
    ]);
  });

  test("half a pair, a provider without the redirect base, or a stray detail is refused by name", () => {
    const message = configError({ ...BASE, OIDC_GOOGLE_CLIENT_SECRET: SECRET });
    expect(message).toContain("OIDC_GOOGLE_CLIENT_ID must be set together with the other");
    expect(message).not.toContain(SECRET);
    expect(configError({ OIDC_GOOGLE_CLIENT_ID: "g", OIDC_GOOGLE_CLIENT_SECRET: SECRET })).toContain(
      "OIDC_REDIRECT_BASE_URL must be set when a sign-in provider is configured",
    );
    expect(configError({ ...BASE, OIDC_CLIENT_ID: "o", OIDC_CLIENT_SECRET: SECRET })).toContain(
      "OIDC_ISSUER must be set when OIDC_CLIENT_ID is set",
    );
    expect(configError({ ...BASE, OIDC_ISSUER: "https://example.okta.com" })).toContain(
      "OIDC_CLIENT_ID must be set when OIDC_ISSUER is set",
    );
  });

  test("Microsoft's multi-tenant endpoints are refused: their tokens' issuer cannot be checked", () => {
    const microsoft = { ...BASE, OIDC_MICROSOFT_CLIENT_ID: "m", OIDC_MICROSOFT_CLIENT_SECRET: SECRET };
    for (const tenant of ["common", "organizations"])
      expect(configError({ ...microsoft, OIDC_MICROSOFT_TENANT: tenant })).toContain(
        "OIDC_MICROSOFT_TENANT must be set to one tenant's id or domain",
      );
    expect(configError(microsoft)).toContain("OIDC_MICROSOFT_TENANT must be set");
  });

  test("production refuses plain http for the redirect base and the issuer, and allows no http issuer", () => {
    const generic = { OIDC_CLIENT_ID: "o", OIDC_CLIENT_SECRET: SECRET, OIDC_ISSUER: "https://idp.example.com" };
    expect(configError({ ...PRODUCTION, ...generic, OIDC_REDIRECT_BASE_URL: "http://api.example.com" })).toContain(
      "OIDC_REDIRECT_BASE_URL must be an https URL in production",
    );
    expect(configError({ ...PRODUCTION, ...BASE, ...generic, OIDC_ISSUER: "http://idp.example.com" })).toContain(
      "OIDC_ISSUER must be an https URL in production",
    );
    expect(loadConfig({ ...PRODUCTION, ...BASE, ...generic }).oidc.allowHttp).toBe(false);
    expect(loadConfig({ ...BASE, ...generic }).oidc.allowHttp).toBe(true);
  });
});
