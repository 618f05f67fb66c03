/**
 * The headers that let a CDN keep a public answer and purge it by tag: browsers always revalidate, the CDN keeps
 * it for the route's TTL. Only for routes whose answer is the same for everyone: a CDN's cache key ignores
 * Authorization.
 */
import { sha256Hex } from "../crypto/sha256.ts";

export interface CdnCachePolicy {
  /** How long the CDN serves the answer without asking again. */
  ttlSeconds: number;
  /** How long past the TTL it may serve the old answer while it fetches a new one in the background. */
  staleWhileRevalidateSeconds?: number;
  /** How long past the TTL it may serve the old answer while the origin fails. */
  staleIfErrorSeconds?: number;
  /** What the answer depends on (`org:123`, `orgs`): purging one of them makes the CDN fetch it again. */
  tags: readonly string[];
}

/**
 * Tag header caps. 30 tags of at most 64 characters make at most 1,949 bytes per header, under the 2 KB the
 * research settled on (Varnish's default header limit is 4 KB; Cloudflare, Akamai and Drupal all cap tags).
 */
export const CDN_TAG_LIMITS = { maxTags: 30, maxTagLength: 64, maxHeaderBytes: 2048 } as const;

// Comma (Cache-Tag), space (Surrogate-Key) and anything outside printable ASCII would split or break a header.
const SAFE_TAG = /^[A-Za-z0-9._:/@+=-]+$/;
// 96 bits of SHA-256: a collision between two tags would purge one with the other, nothing worse.
const HASHED_TAG_HEX_CHARS = 24;

/**
 * The form of a tag in headers and in purge requests: the tag itself when it is short and made of safe
 * characters, else `h:` and a hash of it. The purge client maps tags through this too, so both name the same tag.
 */
export function cdnTag(tag: string): string {
  if (tag.length <= CDN_TAG_LIMITS.maxTagLength && SAFE_TAG.test(tag)) return tag;
  return `h:${sha256Hex(tag).slice(0, HASHED_TAG_HEX_CHARS)}`;
}

/** `Cache-Control` for browsers: store, but ask each time (the ETag makes that a 304). */
export const BROWSER_CACHE_CONTROL = "public, max-age=0, must-revalidate";
/** What a CDN is told for an answer it must not keep. */
export const CDN_NO_STORE = "no-store";

function cdnCacheControl(policy: CdnCachePolicy): string {
  const directives = [`max-age=${seconds(policy.ttlSeconds)}`];
  if (policy.staleWhileRevalidateSeconds !== undefined)
    directives.push(`stale-while-revalidate=${seconds(policy.staleWhileRevalidateSeconds)}`);
  if (policy.staleIfErrorSeconds !== undefined)
    directives.push(`stale-if-error=${seconds(policy.staleIfErrorSeconds)}`);
  return directives.join(", ");
}

function seconds(value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`a CDN lifetime must be ≥ 0 seconds, got ${value}`);
  return Math.floor(value);
}

/**
 * @returns `Cache-Control`, `CDN-Cache-Control` and `Vercel-CDN-Cache-Control` (Vercel reads the last first),
 * and the tags as `Vercel-Cache-Tag` and `Cache-Tag` (comma-separated) and `Surrogate-Key` (space-separated).
 * More than 30 distinct tags cannot all be sent, and a tag left out is a purge that misses: such an answer is
 * then not kept by the CDN at all (`no-store`), only revalidated by browsers.
 * @example
 * cdnHeaders({ ttlSeconds: 60, staleWhileRevalidateSeconds: 300, tags: ["orgs", `org:${orgId}`] })
 * // [["cache-control", "public, max-age=0, must-revalidate"], ["cdn-cache-control", "max-age=60, …"], …]
 */
export function cdnHeaders(policy: CdnCachePolicy): [string, string][] {
  const tags = [...new Set(policy.tags.map(cdnTag))];
  const cdn = tags.length > CDN_TAG_LIMITS.maxTags ? CDN_NO_STORE : cdnCacheControl(policy);
  const headers: [string, string][] = [
    ["cache-control", BROWSER_CACHE_CONTROL],
    ["cdn-cache-control", cdn],
    ["vercel-cdn-cache-control", cdn],
  ];
  if (cdn === CDN_NO_STORE || tags.length === 0) return headers;
  const listed = tags.join(",");
  headers.push(["vercel-cache-tag", listed], ["cache-tag", listed], ["surrogate-key", tags.join(" ")]);
  return headers;
}
