/**
 * The path a request names, read once, so the guards and Elysia's router see the same one.
 *
 * Elysia finds the path by searching for "/" from index 11 of the URL, which assumes a host of at
 * least three characters: on `http://x/ab/admin/stats` it routes `/admin/stats` while the real path
 * is `/ab/admin/stats`. An HTTP/1.0 request without Host arrives as a bare `/path`. Both would let a
 * request reach one route while the guards looked up another, so such requests are handed on with a
 * URL whose host is long enough for Elysia to read it right.
 */
import { AppError } from "../errors/app-error.ts";

// Where Elysia starts looking for the path: just past "https://xx".
const ELYSIA_PATH_SEARCH_START = 11;
const SAFE_ORIGIN = "http://localhost";

export interface RequestTarget {
  /** The request to route: the original, or a copy whose URL Elysia reads the same way. */
  readonly request: Request;
  /** The path without query, as sent (not percent-decoded). */
  readonly path: string;
}

function pathStart(url: string): number {
  const authority = url.indexOf("//");
  // No scheme and authority: the URL is the request target itself (origin-form).
  return authority === -1 || url.charCodeAt(0) === 47 ? 0 : url.indexOf("/", authority + 2);
}

function pathOf(url: string, start: number): string {
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  return url.slice(start, query === -1 ? undefined : query);
}

export function requestTargetOf(request: Request): RequestTarget {
  const start = pathStart(request.url);
  if (start >= ELYSIA_PATH_SEARCH_START) return { request, path: pathOf(request.url, start) };
  // The path is read back from the copy: building a URL may normalise it (dot segments), and the guards
  // must look up exactly what Elysia will route.
  const copy = new Request(SAFE_ORIGIN + (start === -1 ? "/" : request.url.slice(start)), request);
  return { request: copy, path: pathOf(copy.url, SAFE_ORIGIN.length) };
}

/**
 * Refuses a path whose percent-escapes do not decode to UTF-8 (the router would hand the handler null),
 * and a URL holding an encoded NUL anywhere (PostgreSQL cannot store it in text).
 */
export function assertAcceptableTarget(url: string, path: string): void {
  if (!url.includes("%")) return;
  if (url.includes("%00")) throw new AppError("BAD_REQUEST", "The URL may not contain NUL (%00).");
  try {
    decodeURIComponent(path);
  } catch {
    throw new AppError("BAD_REQUEST", "The path holds a malformed percent-escape.");
  }
}
