/**
 * Successful JSON responses, built on a copy of headers prepared once per route (security headers, cache
 * policy, content type, the CORS headers that never vary). Copying a prepared Headers is one native call;
 * setting each header per response is not, so only the headers the prepared set lacks are written. As on
 * every other response, the route's prepared headers win over the same names set by its handler: a route
 * changes its security or cache headers through its policy, never by accident.
 */
import type { HeaderList } from "../guards/security-headers.ts";
import { encodeTextBody, mayCompress } from "./compression.ts";

export interface PreparedHeaders {
  readonly headers: Headers;
  readonly values: Readonly<Record<string, string>>;
}

export function prepareHeaders(list: HeaderList): PreparedHeaders {
  const values: Record<string, string> = {};
  for (const [name, value] of list) values[name.toLowerCase()] = value;
  return { headers: new Headers(values), values };
}

/** A plain object or an array: what a handler returns to be sent as JSON. */
export function isJsonBody(value: unknown): value is object {
  if (value === null || typeof value !== "object") return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null || Array.isArray(value);
}

/**
 * @param acceptEncoding the request's Accept-Encoding, to compress a large body; undefined leaves it as is (the
 * setting is off, a HEAD, or the handler encoded its body itself).
 */
export function jsonResponse(
  body: object,
  status: number,
  prepared: PreparedHeaders,
  added: Readonly<Record<string, unknown>>,
  acceptEncoding?: string | null,
): Response {
  let response: Response;
  if (acceptEncoding === undefined) {
    // The response takes its own copy of the prepared headers, natively: cheaper than copying them here first.
    response = Response.json(body, { status, headers: prepared.headers });
  } else {
    // Serialising here rather than in Response.json costs no more (0.34 against 0.40 µs) and gives the size.
    const text = JSON.stringify(body);
    if (!mayCompress(text.length, acceptEncoding)) response = new Response(text, { status, headers: prepared.headers });
    else {
      const headers = new Headers(prepared.headers);
      setAdded(headers, prepared, added);
      return new Response(encodeTextBody(text, acceptEncoding, headers), { status, headers });
    }
  }
  setAdded(response.headers, prepared, added);
  return response;
}

function setAdded(headers: Headers, prepared: PreparedHeaders, added: Readonly<Record<string, unknown>>): void {
  for (const name in added)
    if (prepared.values[name.toLowerCase()] === undefined) headers.set(name, String(added[name]));
}
