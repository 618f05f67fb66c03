/**
 * Where a request's cached answer is kept: the route template, then a hash of the normalised URL (query
 * parameters sorted), the values of the headers it varies on and, for a private entry, its owner.
 */
import { sha256Hex } from "../crypto/sha256.ts";

export const ENTRY_KEY_PREFIX = "rc:v1:";
export const LOCK_KEY_PREFIX = "rcl:v1:";
/** Entries a route stored in a window of an entry's lifetime (the store's entry cap). */
export const COUNT_KEY_PREFIX = "rcc:v1:";

/** The path parameters of `template` (`/v1/orgs/:orgId`) in `path`, which the router matched to it. */
export function pathParamsOf(template: string, path: string): Record<string, string> {
  const names = template.split("/");
  const values = path.split("/");
  const params: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (name.startsWith(":")) params[name.slice(1)] = decodeURIComponent(values[i] ?? "");
  }
  return params;
}

function normalisedTarget(url: URL): string {
  if (url.search === "") return url.pathname;
  const query = new URLSearchParams(url.search);
  query.sort();
  return `${url.pathname}?${query}`;
}

/** `owner` is "o:<org>" or "u:<user>" for a private entry, "" for a public one. */
export function cacheKeyOf(route: string, url: URL, headers: Headers, vary: readonly string[], owner: string): string {
  let material = `${normalisedTarget(url)}\n${owner}`;
  for (const name of vary) material += `\n${headers.get(name) ?? ""}`;
  return `${route}:${sha256Hex(material)}`;
}
