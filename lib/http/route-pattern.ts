/** One reading of a route path (`:param` is one segment, `*` the rest, a trailing slash allowed) for the router and the Vercel build. */

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
