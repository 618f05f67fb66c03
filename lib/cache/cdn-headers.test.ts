import { describe, expect, test } from "bun:test";
import { CDN_TAG_LIMITS, cdnHeaders, cdnTag } from "./cdn-headers.ts";

const headersOf = (...args: Parameters<typeof cdnHeaders>) => Object.fromEntries(cdnHeaders(...args));

describe("cdnHeaders", () => {
  test("browsers revalidate every time; CDNs keep the answer for the TTL, stale windows included", () => {
    const headers = headersOf({
      ttlSeconds: 60,
      staleWhileRevalidateSeconds: 300,
      staleIfErrorSeconds: 3600,
      tags: ["orgs", "org:org_123"],
    });
    expect(headers).toEqual({
      "cache-control": "public, max-age=0, must-revalidate",
      "cdn-cache-control": "max-age=60, stale-while-revalidate=300, stale-if-error=3600",
      "vercel-cdn-cache-control": "max-age=60, stale-while-revalidate=300, stale-if-error=3600",
      "vercel-cache-tag": "orgs,org:org_123",
      "cache-tag": "orgs,org:org_123",
      "surrogate-key": "orgs org:org_123",
    });
  });

  test("stale windows not declared are left out, and an answer without tags sends no tag header", () => {
    const headers = headersOf({ ttlSeconds: 30, tags: [] });
    expect(headers["cdn-cache-control"]).toBe("max-age=30");
    expect(headers["vercel-cache-tag"]).toBeUndefined();
    expect(headers["surrogate-key"]).toBeUndefined();
  });

  test("a negative or non-finite lifetime is refused when the route is declared", () => {
    expect(() => cdnHeaders({ ttlSeconds: -1, tags: [] })).toThrow(RangeError);
    expect(() => cdnHeaders({ ttlSeconds: 10, staleIfErrorSeconds: Number.NaN, tags: [] })).toThrow(RangeError);
  });

  test("30 tags of the longest kept length fit each tag header within 2 KB", () => {
    const tags = Array.from({ length: CDN_TAG_LIMITS.maxTags }, (_, i) =>
      `t${i}:`.padEnd(CDN_TAG_LIMITS.maxTagLength, "x"),
    );
    const headers = headersOf({ ttlSeconds: 60, tags });
    for (const name of ["vercel-cache-tag", "cache-tag", "surrogate-key"]) {
      expect(headers[name]?.split(/[ ,]/)).toEqual(tags);
      expect(Buffer.byteLength(headers[name] ?? "")).toBeLessThanOrEqual(CDN_TAG_LIMITS.maxHeaderBytes);
    }
  });

  test("past 30 distinct tags the CDN is told not to keep the answer: a dropped tag would never purge", () => {
    const tags = Array.from({ length: CDN_TAG_LIMITS.maxTags + 1 }, (_, i) => `member:${i}`);
    const headers = headersOf({ ttlSeconds: 60, tags });
    expect(headers["cdn-cache-control"]).toBe("no-store");
    expect(headers["vercel-cdn-cache-control"]).toBe("no-store");
    expect(headers["vercel-cache-tag"]).toBeUndefined();
    expect(headers["cache-control"]).toBe("public, max-age=0, must-revalidate");
  });

  test("duplicate tags count once towards the cap", () => {
    const headers = headersOf({ ttlSeconds: 60, tags: Array.from({ length: 40 }, () => "orgs") });
    expect(headers["vercel-cache-tag"]).toBe("orgs");
  });
});

describe("cdnTag", () => {
  test("a short tag of safe characters is kept as it is", () => {
    expect(cdnTag("org:org_123")).toBe("org:org_123");
    expect(cdnTag("path:/orgs/org_1/members")).toBe("path:/orgs/org_1/members");
    expect(cdnTag("user@example.com")).toBe("user@example.com");
  });

  test("a tag with a separator or a character outside the safe set is hashed, so it cannot split a header", () => {
    for (const tag of ["two words", "a,b", "tag\r\nx-injected: 1", "café", 'q"uote', "semi;colon"]) {
      const mapped = cdnTag(tag);
      expect(mapped).toMatch(/^h:[0-9a-f]{24}$/);
      const header = headersOf({ ttlSeconds: 1, tags: [tag, "orgs"] });
      expect(header["cache-tag"]).toBe(`${mapped},orgs`);
      expect(header["surrogate-key"]).toBe(`${mapped} orgs`);
    }
  });

  test("a tag longer than 64 characters is hashed; the same tag always maps to the same name", () => {
    const long = `search:${"q".repeat(300)}`;
    expect(cdnTag(long)).toMatch(/^h:[0-9a-f]{24}$/);
    expect(cdnTag(long)).toBe(cdnTag(long));
    expect(cdnTag(`${long}!`)).not.toBe(cdnTag(long));
    expect(cdnTag("x".repeat(CDN_TAG_LIMITS.maxTagLength))).toBe("x".repeat(CDN_TAG_LIMITS.maxTagLength));
  });
});
