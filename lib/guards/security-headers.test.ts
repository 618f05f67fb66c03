import { describe, expect, test } from "bun:test";
import { applyHeaders, buildSecurityHeaders, PERMISSIONS_POLICY, withOverrides } from "./security-headers.ts";

const asRecord = (list: ReturnType<typeof buildSecurityHeaders>) => Object.fromEntries(list);

describe("buildSecurityHeaders", () => {
  test(
    "defaults lock a JSON API down: HSTS with subdomains, nosniff, DENY, " +
      "no-resource CSP, no referrer, same-origin COOP/CORP",
    () => {
      expect(asRecord(buildSecurityHeaders())).toEqual({
        "strict-transport-security": "max-age=31536000; includeSubDomains",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "permissions-policy": PERMISSIONS_POLICY,
      });
    },
  );

  test("the permissions policy denies every powerful feature it names", () => {
    for (const feature of PERMISSIONS_POLICY.split(", ")) expect(feature).toMatch(/^[a-z-]+=\(\)$/);
    expect(PERMISSIONS_POLICY).toContain("camera=()");
    expect(PERMISSIONS_POLICY).toContain("geolocation=()");
  });

  test("HSTS takes the configured max-age and can leave subdomains out", () => {
    const headers = asRecord(buildSecurityHeaders({ hstsMaxAge: 600, hstsIncludeSubDomains: false }));
    expect(headers["strict-transport-security"]).toBe("max-age=600");
  });

  test("a max-age of 0 leaves HSTS out entirely rather than sending max-age=0", () => {
    const headers = asRecord(buildSecurityHeaders({ hstsMaxAge: 0 }));
    expect(headers["strict-transport-security"]).toBeUndefined();
    expect(headers["x-frame-options"]).toBe("DENY");
  });
});

describe("withOverrides", () => {
  const base = buildSecurityHeaders();

  test("a route's value replaces the default whatever the case of its name, and keeps the list's order", () => {
    const merged = withOverrides(base, { "Content-Security-Policy": "default-src 'self'" });
    expect(merged.map(([name]) => name)).toEqual(base.map(([name]) => name));
    expect(asRecord(merged)["content-security-policy"]).toBe("default-src 'self'");
    expect(asRecord(merged)["x-frame-options"]).toBe("DENY");
  });

  test("a header the defaults lack is added, lower-cased", () => {
    const merged = asRecord(withOverrides(base, { "X-Robots-Tag": "noindex" }));
    expect(merged["x-robots-tag"]).toBe("noindex");
  });

  test("the base list is left untouched, so other routes keep the defaults", () => {
    const before = JSON.stringify(base);
    withOverrides(base, { "x-frame-options": "SAMEORIGIN", "x-extra": "1" });
    expect(JSON.stringify(base)).toBe(before);
  });
});

describe("applyHeaders", () => {
  test("sets every header on the response, replacing a value a handler put there", () => {
    const headers = new Headers({ "x-frame-options": "ALLOWALL", "content-type": "application/json" });
    applyHeaders(headers, buildSecurityHeaders());
    expect(headers.get("x-frame-options")).toBe("DENY");
    expect(headers.get("x-content-type-options")).toBe("nosniff");
    expect(headers.get("content-type")).toBe("application/json");
  });
});
