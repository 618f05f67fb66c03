import { describe, expect, test } from "bun:test";
import { loadConfig } from "../config/config.ts";
import { settingsFromConfig, staticSettings } from "../settings/settings.ts";
import { createOriginCheck } from "./cors.ts";

const settingsFor = (origins: string) =>
  staticSettings(settingsFromConfig(loadConfig({ NODE_ENV: "test", CORS_ORIGINS: origins })));

describe("createOriginCheck", () => {
  const isAllowed = createOriginCheck(settingsFor("https://app.example.com,http://localhost:5173"));

  test("allows each configured origin exactly as configured", () => {
    expect(isAllowed("https://app.example.com")).toBe(true);
    expect(isAllowed("http://localhost:5173")).toBe(true);
  });

  test.each([
    ["no Origin header", null],
    ["the opaque origin null", "null"],
    ["an http:// downgrade of an https origin", "http://app.example.com"],
    ["a look-alike suffix", "https://app.example.com.evil.tld"],
    ["a look-alike prefix", "https://evil-app.example.com"],
    ["an unlisted subdomain", "https://admin.app.example.com"],
    ["the parent domain", "https://example.com"],
    ["a different port", "https://app.example.com:8443"],
    ["the listed host on its default port spelled out", "https://app.example.com:443"],
    ["a trailing slash", "https://app.example.com/"],
    ["a path", "https://app.example.com/login"],
    ["different letter case", "https://APP.example.com"],
    ["userinfo", "https://user@app.example.com"],
    ["a wildcard", "*"],
    ["the empty string", ""],
    ["a localhost origin on another port", "http://localhost:5174"],
  ])("refuses %s", (_, origin) => {
    expect(isAllowed(origin)).toBe(false);
  });

  test("with no origins configured, every origin is refused", () => {
    const none = createOriginCheck(staticSettings(settingsFromConfig(loadConfig({ NODE_ENV: "test" }))));
    expect(none("https://app.example.com")).toBe(false);
    expect(none("null")).toBe(false);
  });

  test("a settings change applies to the next check without a restart", async () => {
    const settings = settingsFor("https://app.example.com");
    const check = createOriginCheck(settings);
    expect(check("https://new.example.com")).toBe(false);
    await settings.update({ cors: { origins: ["https://new.example.com"] } }, "test");
    expect(check("https://new.example.com")).toBe(true);
    expect(check("https://app.example.com")).toBe(false);
  });
});
