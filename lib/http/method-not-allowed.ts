/** Tells a 405 from a 404: which methods the app serves on a path that exists. */
const ROUTE_PARAM = /:[^/]+/g;

export function createAllowedMethodsLookup(routes: ReadonlyArray<{ method: string; path: string }>) {
  const matchers = routes.map((route) => ({
    method: route.method.toUpperCase(),
    pattern: new RegExp(`^${route.path.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(ROUTE_PARAM, "[^/]+").replace(/\*/g, ".*")}/?$`),
  }));
  return (path: string): string[] => {
    const methods = new Set<string>();
    for (const { method, pattern } of matchers) if (pattern.test(path)) methods.add(method);
    return [...methods];
  };
}
