/**
 * A route path as a regular expression (`:param` is one segment, `*` the rest, a trailing slash allowed) for
 * Vercel's rewrites. Requests are matched by route-matcher.ts, with Elysia's own router, not by this.
 */

/**
 * The regular-expression source that matches request paths for `path`.
 * @example new RegExp(routePatternSource("/v1/orgs/:orgId")).test("/v1/orgs/o1/") // true
 */
export function routePatternSource(path: string): string {
  const escaped = path
    .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
    .replace(/:[^/]+/g, "[^/]+")
    .replace(/\*/g, ".*");
  return `^${escaped}/?$`;
}
