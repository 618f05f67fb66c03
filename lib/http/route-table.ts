/**
 * The app's routes with their resolved policies, built once from the Elysia route list, so the
 * pipeline can apply transport guards and answer 404/405 before Elysia runs.
 */

import {
  ORG_DETAIL_KEY,
  type OrgBinding,
  POLICY_DETAIL_KEY,
  type ResolvedPolicy,
  type RoutePolicy,
  resolvePolicy,
} from "../core/route-policy.ts";
import { metricsRegistry } from "../metrics/metrics-registry.ts";
import type { RouteRecorder } from "../metrics/recorders.ts";
import { createRouteMatcher } from "./route-matcher.ts";

export interface RouteEntry {
  readonly method: string;
  readonly path: string;
  /** `METHOD /path`: what rate-limit counters are kept under. */
  readonly key: string;
  readonly policy: ResolvedPolicy;
  /** Where the bound organization's id sits in the path split on "/", for a route with tenant binding. */
  readonly orgSegment: number | undefined;
  /** Its requests' counts and latencies, resolved here so the request path records without a lookup. */
  readonly recorder: RouteRecorder;
}

interface ElysiaRouteInfo {
  method: string;
  path: string;
  hooks?: { detail?: Record<string, unknown> };
}

export interface RouteTable {
  find(method: string, pathname: string): RouteEntry | undefined;
  allowedMethods(pathname: string): string[];
  readonly routes: readonly RouteEntry[];
}

function orgSegmentOf(path: string, policy: ResolvedPolicy, key: string): number | undefined {
  if (policy.org === undefined) return undefined;
  const segment = path.split("/").indexOf(`:${policy.org.param}`);
  if (segment === -1)
    throw new Error(`route ${key} binds the organization to :${policy.org.param}, which its path lacks`);
  return segment;
}

/** The route's policy as its options declared it (lib/http/policy-plugin.ts): the access kind's, then `org`. */
function declaredPolicyOf(route: ElysiaRouteInfo, key: string): RoutePolicy {
  const policy = route.hooks?.detail?.[POLICY_DETAIL_KEY] as RoutePolicy | undefined;
  if (policy === undefined) throw new Error(`route ${key} declares no policy`);
  const org = route.hooks?.detail?.[ORG_DETAIL_KEY] as OrgBinding | undefined;
  if (org === undefined) return policy;
  if (policy.org !== undefined) throw new Error(`route ${key} binds its organization twice`);
  return { ...policy, org };
}

export function createRouteTable(elysiaRoutes: readonly ElysiaRouteInfo[]): RouteTable {
  const routes: RouteEntry[] = elysiaRoutes.map((route) => {
    const method = route.method.toUpperCase();
    const key = `${method} ${route.path}`;
    const policy = resolvePolicy(declaredPolicyOf(route, key), method, key);
    const orgSegment = orgSegmentOf(route.path, policy, key);
    return { method, path: route.path, key, policy, orgSegment, recorder: metricsRegistry().route(route.path, method) };
  });
  const matcher = createRouteMatcher(routes);
  return { routes, find: matcher.find, allowedMethods: matcher.methodsAt };
}
