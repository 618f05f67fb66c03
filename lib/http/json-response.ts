/**
 * Successful JSON responses, built on a copy of headers prepared once per route (security headers, cache
 * policy, content type, the CORS headers that never vary). Copying a prepared Headers is one native call;
 * setting each header per response is not, so only the headers the prepared set lacks are written. As on
 * every other response, the route's prepared headers win over the same names set by its handler: a route
 * changes its security or cache headers through its policy, never by accident.
 */
import type { HeaderList } from "../guards/security-headers.ts";

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

export function jsonResponse(
  body: object,
  status: number,
  prepared: PreparedHeaders,
  added: Readonly<Record<string, unknown>>,
): Response {
  // The response takes its own copy of the prepared headers, natively: cheaper than copying them here first.
  const response = Response.json(body, { status, headers: prepared.headers });
  const headers = response.headers;
  for (const name in added)
    if (prepared.values[name.toLowerCase()] === undefined) headers.set(name, String(added[name]));
  return response;
}
