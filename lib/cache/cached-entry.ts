/**
 * A cached answer as the store keeps it, and the one function that turns it back into a Response, its body in
 * the encoding the client accepts.
 */

export interface CachedEntry {
  readonly status: number;
  readonly contentType: string;
  /** The identity body. */
  readonly body: string;
  readonly etag: string;
  /** Epoch milliseconds, by the runtime's clock. */
  readonly storedAt: number;
  /** The version of each of the request's tags when its computation began (lib/cache/purge-tags.ts). */
  readonly versions: readonly number[];
  /** How long it is fresh, chosen when stored (an adaptive TTL); absent in older entries: the route's TTL. */
  readonly ttlMs?: number;
}

export type CacheStatus = "HIT" | "STALE" | "MISS" | "BYPASS";

/** What every answer of a cached route carries besides its body. */
export interface CacheHeaders {
  /** For an entry fresh for `ttlMs` (an adaptive TTL's pick), or for the route's TTL when undefined. */
  readonly cacheControl: (ttlMs: number | undefined) => string;
  /** Comma-joined, or "" for none. */
  readonly vary: string;
  /** A public route's CDN headers for a request's tags (lib/cache/cdn-headers.ts); they replace Cache-Control. */
  readonly cdn?: (tags: readonly string[], ttlMs: number | undefined) => [string, string][];
}

/** How an answer's body is sent to a client: as stored, or compressed (lib/http/cached-body-encoder.ts). */
export type BodyEncoder = ((entry: CachedEntry, acceptEncoding: string | null, headers: Headers) => BodyInit) & {
  /** Whether answers depend on Accept-Encoding, so every one of them, 304s included, varies by it. */
  readonly variesByEncoding: boolean;
};

export function parseEntry(raw: string | null): CachedEntry | undefined {
  if (raw === null) return undefined;
  const entry = JSON.parse(raw) as Partial<CachedEntry>;
  // An entry of another shape (an older release's) is a miss, not an error.
  return typeof entry.body === "string" && Array.isArray(entry.versions) ? (entry as CachedEntry) : undefined;
}

/** Cache-Control and a public route's CDN and tag headers, ETag, X-Cache and Vary onto `list`. */
export function applyCacheHeaders(
  list: Headers,
  entry: CachedEntry,
  headers: CacheHeaders,
  status: CacheStatus,
  tags: readonly string[],
): Headers {
  // Cache-Control keeps the policy's s-maxage for caches that read only it (Deno Deploy's); CDN-Cache-Control
  // and Vercel-CDN-Cache-Control take precedence where they are read.
  list.set("cache-control", headers.cacheControl(entry.ttlMs));
  for (const [name, value] of headers.cdn?.(tags, entry.ttlMs) ?? [])
    if (name !== "cache-control") list.set(name, value);
  list.set("etag", entry.etag);
  list.set("x-cache", status);
  if (headers.vary !== "") list.set("vary", headers.vary);
  return list;
}

/** The entry as an answer: its body as `encode` sends it, or an empty 304 when the client already holds it. */
export function responseOf(
  entry: CachedEntry,
  headers: CacheHeaders,
  status: CacheStatus,
  notModified: boolean,
  tags: readonly string[],
  acceptEncoding: string | null,
  encode: BodyEncoder,
): Response {
  const list = applyCacheHeaders(new Headers(), entry, headers, status, tags);
  if (notModified) return new Response(null, { status: 304, headers: list });
  list.set("content-type", entry.contentType);
  return new Response(encode(entry, acceptEncoding, list), { status: entry.status, headers: list });
}
