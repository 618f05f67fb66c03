/**
 * How a route declares its policy. The option names the access kind and hands the handler what that kind
 * guarantees, typed, so asking for a value the route cannot have is a compile error:
 *
 *   public: { ... }     nothing more            admin: { ... }      `actor`, the operator or ADMIN_TOKEN
 *   cron: { ... }       nothing more            user: { ... }       `user`, the signed-in user
 *   key: { ... }        `key`, the API key      userOrKey: { ... }  `caller`, either of them
 *   org: "orgId"        `org`, the organization the path names, bound by the pipeline (beside user, key or userOrKey)
 *
 * Each that gives a value also gives `requestContext`. `policy: { access, ... }` takes the whole contract as one value
 * and
 * gives nothing typed, for code that picks the access kind at run time (tests). Declarations travel in the
 * route's detail; the pipeline reads them once, when the app is built (lib/http/route-table.ts).
 */
import { Elysia } from "elysia";
import { adminActorOf } from "../audit/admin-actor.ts";
import type { ApiKeyCaller, Caller, UserCaller } from "../core/caller.ts";
import type { BoundOrg } from "../core/org-roles.ts";
import { type RequestContext, requestContextOf } from "../core/request-context.ts";
import {
  type Access,
  type AccessPolicy,
  ORG_DETAIL_KEY,
  type OrgOption,
  POLICY_DETAIL_KEY,
  type RoutePolicy,
  type UserPolicy,
} from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";

type Detail = { detail: Record<string, unknown> };

function declare(access: Access, policy: AccessPolicy): Detail {
  return { detail: { [POLICY_DETAIL_KEY]: { ...policy, access } satisfies RoutePolicy } };
}

// The pipeline admitted the request only with a caller of the route's kind; a missing one fails closed.
function callerOf(context: RequestContext): Caller {
  if (context.caller === undefined) throw new AppError("UNAUTHORIZED");
  return context.caller;
}

function signedInUserOf(context: RequestContext): UserCaller {
  const caller = callerOf(context);
  if (caller.kind !== "user") throw new AppError("UNAUTHORIZED");
  return caller;
}

function apiKeyOf(context: RequestContext): ApiKeyCaller {
  const caller = callerOf(context);
  if (caller.kind !== "api_key") throw new AppError("UNAUTHORIZED");
  return caller;
}

function boundOrgOf(context: RequestContext): BoundOrg {
  if (context.org === undefined) throw new AppError("NOT_FOUND", "No such organization.");
  return context.org;
}

type Resolved<T> = { resolve: ({ request }: { request: Request }) => T & { requestContext: RequestContext } };

function resolving<T>(read: (context: RequestContext) => T): Resolved<T> {
  return {
    resolve: ({ request }) => {
      const requestContext = requestContextOf(request);
      return { ...read(requestContext), requestContext };
    },
  };
}

export const policyPlugin = new Elysia({ name: "rampart.policy" }).macro({
  policy: (policy: RoutePolicy) => ({ detail: { [POLICY_DETAIL_KEY]: policy } as Record<string, unknown> }),
  public: (policy: UserPolicy) => declare("public", policy),
  cron: (policy: UserPolicy) => declare("cron", policy),
  admin: (policy: UserPolicy) => ({
    ...declare("admin", policy),
    ...resolving((context) => ({ actor: adminActorOf(context.caller) })),
  }),
  user: (policy: UserPolicy) => ({
    ...declare("user", policy),
    ...resolving((context) => ({ user: signedInUserOf(context) })),
  }),
  key: (policy: AccessPolicy) => ({
    ...declare("key", policy),
    ...resolving((context) => ({ key: apiKeyOf(context) })),
  }),
  userOrKey: (policy: AccessPolicy) => ({
    ...declare("user-or-key", policy),
    ...resolving((context) => ({ caller: callerOf(context) })),
  }),
  org: (binding: OrgOption) => ({
    detail: { [ORG_DETAIL_KEY]: typeof binding === "string" ? { param: binding } : binding } as Record<string, unknown>,
    ...resolving((context) => ({ org: boundOrgOf(context) })),
  }),
});
