/**
 * Elysia's routing, rebuilt over the route table's entries, so the pipeline and Elysia cannot pick different
 * routes for a request: the same static map and the same router (memoirist, at the version Elysia uses), filled
 * with the same path variants in the same order, asked in the same order as Elysia's compiled handler.
 */
import { encodePath, getLoosePath } from "elysia/utils";
import { Memoirist } from "memoirist";

interface Routable {
  readonly method: string;
  readonly path: string;
}

export interface RouteMatcher<Route extends Routable> {
  /** The route Elysia runs for `method` on `pathname` (the path as sent, query removed), if any. */
  find(method: string, pathname: string): Route | undefined;
  /** The methods that reach a route on `pathname`; HEAD whenever GET does. */
  methodsAt(pathname: string): string[];
}

const isStaticPath = (path: string) => !path.includes(":") && !path.includes("*");

/**
 * Builds the matcher once from the routes in the order Elysia registered them.
 * @example createRouteMatcher([{ method: "GET", path: "/v1/orgs/:orgId" }]).find("HEAD", "/v1/orgs/o1/") // the GET
 */
export function createRouteMatcher<Route extends Routable>(routes: readonly Route[]): RouteMatcher<Route> {
  // Elysia's `router.static` compiled into a switch: the first path declaring a spelling owns it.
  const staticRoutes = new Map<string, Map<string, Route>>();
  const dynamicRoutes = new Memoirist<Route>();
  for (const route of routes) {
    const { method, path } = route;
    if (isStaticPath(path)) {
      let byMethod = staticRoutes.get(path);
      if (byMethod === undefined) {
        byMethod = new Map();
        for (const spelling of [path, getLoosePath(path), encodePath(path)])
          if (!staticRoutes.has(spelling)) staticRoutes.set(spelling, byMethod);
      }
      byMethod.set(method, route);
      continue;
    }
    dynamicRoutes.add(method, path, route);
    dynamicRoutes.add(method, getLoosePath(path), route);
    const encoded = encodePath(path, { dynamic: true });
    if (encoded !== path) dynamicRoutes.add(method, encoded, route);
  }
  const dynamicFind = (method: string, pathname: string) => dynamicRoutes.find(method, pathname)?.store;

  const find = (method: string, pathname: string): Route | undefined => {
    const byMethod = staticRoutes.get(pathname);
    if (byMethod !== undefined) {
      const hit = byMethod.get(method) ?? (method === "HEAD" ? byMethod.get("GET") : undefined) ?? byMethod.get("ALL");
      if (hit !== undefined) return hit;
    }
    // Elysia answers HEAD with a GET route before it looks for a HEAD one.
    if (method === "HEAD")
      return dynamicFind("GET", pathname) ?? dynamicFind("HEAD", pathname) ?? dynamicFind("ALL", pathname);
    return dynamicFind(method, pathname) ?? dynamicFind("ALL", pathname);
  };
  const methods = [...new Set([...routes.map((route) => route.method), "HEAD"])];
  return {
    find,
    methodsAt: (pathname) => methods.filter((method) => find(method, pathname) !== undefined),
  };
}
