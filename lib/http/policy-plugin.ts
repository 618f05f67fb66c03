/**
 * The `policy` route option. A route declares `{ policy: { access, rateLimits, bodyLimitBytes, ... } }`;
 * the declaration travels in the route's detail so the pipeline reads it once when the app is built.
 */
import { Elysia } from "elysia";
import { POLICY_DETAIL_KEY, type RoutePolicy } from "../core/route-policy.ts";

export const policyPlugin = new Elysia({ name: "rampart.policy" }).macro({
  policy: (policy: RoutePolicy) => ({ detail: { [POLICY_DETAIL_KEY]: policy } as Record<string, unknown> }),
});
