/**
 * A cached answer as the store keeps it, and the one function that turns it back into a Response (the seam where
 * a compressed representation would be chosen by Accept-Encoding).
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
}

export type CacheStatus = "HIT" | "STALE" | "MISS" | "BYPASS";

/** What every answer of a cached route carries besides its body. */
export interface CacheHeaders {
  readonly cacheControl: string;
  /** Comma-joined, or "" for none. */
  readonly vary: string;
}

export function parseEntry(raw: string | null): CachedEntry | undefined {
  if (raw === null) return undefined;
  const entry = JSON.parse(raw) as Partial<CachedEntry>;
  // An entry of another shape (an older release's) is a miss, not an error.
  return typeof entry.body === "string" && Array.isArray(entry.versions) ? (entry as CachedEntry) : undefined;
}

function headersOf(entry: CachedEntry, headers: CacheHeaders, status: CacheStatus): Headers {
  const list = new Headers({ "cache-control": headers.cacheControl, etag: entry.etag, "x-cache": status });
  if (headers.vary !== "") list.set("vary", headers.vary);
  return list;
}

/** The entry as an answer: its body, or an empty 304 when the client already holds it. */
export function responseOf(entry: CachedEntry, headers: CacheHeaders, status: CacheStatus, notModified: boolean) {
  const list = headersOf(entry, headers, status);
  if (notModified) return new Response(null, { status: 304, headers: list });
  list.set("content-type", entry.contentType);
  return new Response(entry.body, { status: entry.status, headers: list });
}
