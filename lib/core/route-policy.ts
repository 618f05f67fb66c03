/**
 * What a route declares about itself: who may call it, its rate limits, body limit, accepted content
 * types, timeout class, cache policy and whether it is challenged in emergency mode. Defaults live here;
 * a declaration is resolved once, when the route is defined.
 */
import type { ApiKeyScope } from "./api-key-scopes.ts";
import { type CachePolicy, type ResolvedCachePolicy, resolveCachePolicy } from "./cache-policy.ts";
import { type Duration, msOf } from "./duration.ts";
import type { ErrorCode } from "./error-codes.ts";
import type { OrgRole } from "./org-roles.ts";

/**
 * public: anyone; admin: an operator's access token or ADMIN_TOKEN; cron: CRON_SECRET; user: an access token;
 * user-or-key: an access token or an API key; key: an API key only.
 */
export type Access = "public" | "admin" | "cron" | "user" | "user-or-key" | "key";
/** json: parsed as strict JSON; raw: the bytes, unparsed (to verify a signature over them); none: no body accepted. */
export type BodyMode = "json" | "raw" | "none";
export type TimeoutClass = "read" | "write" | "auth" | "cron";
/** identity: the customer (`externalId`) a key serves, for the limits its identity declares. */
export type RateLimitScope = "ip" | "user" | "org" | "key" | "email" | "identity";
export type RateLimitAlgorithm = "fixed-window" | "sliding-window";
/** enforced: a blocked address is refused (403 IP_BLOCKED); exempt: the route answers it anyway. */
export type IpBlockPolicy = "enforced" | "exempt";
/**
 * never: no challenge; in-emergency: a human-verification token is required while emergency mode is on (when
 * configured).
 */
export type HumanVerificationPolicy = "never" | "in-emergency";

interface RateLimitRuleFields {
  /** Distinguishes several rules on one route, e.g. "burst" and "sustained". */
  name: string;
  limit: number;
  algorithm?: RateLimitAlgorithm;
  scope: RateLimitScope;
  /** When Redis does not answer: "open" falls back to the in-process limiter, "closed" refuses (503). */
  onStoreFailure?: "open" | "closed";
  /** Count across every route instead of per route (an API key's own limit). */
  acrossRoutes?: boolean;
}

/** The window as a Duration (`window: "1m"`) or, as settings overrides store it, in milliseconds. */
export type RateLimitRule = RateLimitRuleFields &
  ({ window: Duration; windowMs?: never } | { windowMs: number; window?: never });

/** A route on its way out: announced from `since`, answered 410 GONE from `sunset`. */
export interface Deprecation {
  /** When the route was deprecated, an ISO date such as "2027-01-01" (midnight UTC). */
  since: string;
  /** When it stops answering, an ISO date or date-time; after it the route answers 410 GONE. */
  sunset: string;
  /** Where clients read how to move off it (sent as the Link header's deprecation and sunset targets). */
  link?: string;
}

/** Tenant binding: the route acts on the organization its path parameter names, and only for its members and keys. */
export interface OrgBinding {
  /** The path parameter holding the organization's id, e.g. "orgId" for `/v1/orgs/:orgId/keys`. */
  param: string;
  /**
   * The least role a user needs there; an API key needs only to belong to it (and the route's scopes).
   * @default "member"
   */
  role?: OrgRole;
}

export interface RoutePolicy {
  access: Access;
  /**
   * Binds the route to the organization in its path; another tenant's organization is answered like a missing one
   * (404).
   */
  org?: OrgBinding;
  /** Scopes an API key must hold to call the route (users are authorised by their role in `org`). */
  scopes?: readonly ApiKeyScope[];
  rateLimits?: readonly RateLimitRule[];
  /** @default "json" */
  body?: BodyMode;
  /** Ignored for `body: "none"`, which accepts none. */
  bodyLimitBytes?: number;
  accepts?: readonly string[];
  timeout?: TimeoutClass;
  /**
   * A Cache-Control value, or a response cache (lib/core/cache-policy.ts) for a GET route; responses are
   * `no-store` unless the route says otherwise.
   */
  cache?: string | CachePolicy;
  /** Replaces the default security headers, e.g. a Content-Security-Policy for an HTML docs page. */
  headers?: Readonly<Record<string, string>>;
  /**
   * Whether IP blocks apply; "exempt" is for health probes, which a blocked load balancer must still reach.
   * @default "enforced"
   */
  ipBlocks?: IpBlockPolicy;
  /** @default "never" */
  humanVerification?: HumanVerificationPolicy;
  /** Sends `Deprecation`, `Sunset` and `Link` headers on every answer, then 410 GONE from the sunset on. */
  deprecated?: Deprecation;
  /**
   * Step-up: a signed-in user must have proved who they are (sign-in or POST /v1/auth/reauthenticate) within
   * this window, else 403 REAUTHENTICATION_REQUIRED. API keys are not asked: they are no one's interactive session.
   */
  recentAuth?: Duration;
  /**
   * Usage credits an API key with a usage limit spends per request (lib/auth/usage-credits.ts); 0 spends none.
   * @default 1
   */
  cost?: number;
  /** Errors the handler itself can answer beyond those the policy implies (e.g. CONFLICT), for the API docs. */
  errors?: readonly ErrorCode[];
  /**
   * Admits METRICS_TOKEN besides the admin credentials: a scraper reads the route without operator rights.
   * Admin routes only.
   * @default false
   */
  metricsToken?: boolean;
}

/**
 * What a route declares through its access kind's option (`user: { ... }`, `key: { ... }`): the policy but its
 * access kind, which the option names, and its tenant binding, which is the `org` option beside it.
 */
export type AccessPolicy = Omit<RoutePolicy, "access" | "org">;
/** The same for kinds that admit no API key, where scopes would never be checked. */
export type UserPolicy = Omit<AccessPolicy, "scopes">;
/** The `org` option: the path parameter naming the organization, or the parameter and the least role. */
export type OrgOption = string | OrgBinding;

export interface ResolvedRateLimitRule extends Required<RateLimitRuleFields> {
  windowMs: number;
}

export interface ResolvedPolicy {
  access: Access;
  org: Required<OrgBinding> | undefined;
  scopes: readonly string[];
  rateLimits: readonly ResolvedRateLimitRule[];
  body: BodyMode;
  bodyLimitBytes: number;
  accepts: ReadonlySet<string>;
  timeout: TimeoutClass;
  /** The Cache-Control of the route's successful answers. */
  cache: string;
  /** The route's response cache, when it declares one. */
  responseCache: ResolvedCachePolicy | undefined;
  headers: Readonly<Record<string, string>>;
  ipBlocks: IpBlockPolicy;
  humanVerification: HumanVerificationPolicy;
  deprecated: ResolvedDeprecation | undefined;
  errors: readonly ErrorCode[];
  metricsToken: boolean;
  /** The step-up window in milliseconds, when the route declares one. */
  recentAuthMs: number | undefined;
  cost: number;
}

export interface ResolvedDeprecation {
  /** Epoch milliseconds. */
  readonly sinceMs: number;
  readonly sunsetMs: number;
  readonly link: string | undefined;
}

export const MiB = 1024 * 1024;

export const DEFAULT_POLICY = {
  bodyLimitBytes: MiB,
  accepts: ["application/json"],
  cache: "no-store",
  ipBlocks: "enforced",
  humanVerification: "never",
  rateLimit: { algorithm: "sliding-window", onStoreFailure: "open", acrossRoutes: false },
  /** Routes that declare no rate limit still get this one per client address. */
  rateLimits: [{ name: "default", limit: 300, window: "1m", scope: "ip" }],
} as const satisfies { rateLimits: readonly RateLimitRule[] } & Record<string, unknown>;

export const POLICY_DETAIL_KEY = "x-rampart-policy";
export const ORG_DETAIL_KEY = "x-rampart-org";

export function resolveRateLimitRule({ window, windowMs, ...rule }: RateLimitRule): ResolvedRateLimitRule {
  return { ...DEFAULT_POLICY.rateLimit, ...rule, windowMs: window === undefined ? (windowMs as number) : msOf(window) };
}

// Directives that let a shared cache (a CDN, whose key ignores Authorization) keep an answer.
const SHARED_CACHE_DIRECTIVE = /(^|[\s,])(public|s-maxage)\b/i;

function resolveCache(
  policy: RoutePolicy,
  method: string,
  route: string,
): Pick<ResolvedPolicy, "cache" | "responseCache"> {
  if (typeof policy.cache === "object") {
    if (method !== "GET") throw new Error(`route ${route} declares a response cache, which only GET routes may`);
    const responseCache = resolveCachePolicy(policy.cache, policy.access, route);
    return { cache: responseCache.cacheControl, responseCache };
  }
  const cache = policy.cache ?? DEFAULT_POLICY.cache;
  if (policy.access !== "public" && SHARED_CACHE_DIRECTIVE.test(cache))
    throw new Error(`route ${route} lets shared caches keep its answers ("${cache}") but its access is not public`);
  return { cache, responseCache: undefined };
}

// Access kinds whose caller can be a member or an organization's key.
const TENANT_ACCESS: ReadonlySet<Access> = new Set(["user", "user-or-key", "key"]);

/** Whether the pipeline has a value to count `scope` by on every request to a route with this policy. */
function scopeResolves(scope: RateLimitScope, policy: RoutePolicy): boolean {
  switch (scope) {
    case "user":
      return policy.access === "user" || policy.access === "user-or-key";
    case "key":
    case "identity":
      return policy.access === "key" || policy.access === "user-or-key";
    case "org":
      return policy.org !== undefined || policy.access === "key";
    // The client address always resolves; "email" is counted by the handler that reads the address.
    default:
      return true;
  }
}

/** `route` names the route in a start-up error: a policy the pipeline cannot enforce never serves a request. */
export function resolvePolicy(policy: RoutePolicy, method: string, route = method): ResolvedPolicy {
  if (policy.org !== undefined && !TENANT_ACCESS.has(policy.access))
    throw new Error(`route ${route} binds an organization but its access is "${policy.access}"`);
  if (policy.metricsToken === true && policy.access !== "admin")
    throw new Error(`route ${route} admits the metrics token but its access is "${policy.access}"`);
  if (policy.recentAuth !== undefined && policy.access !== "user" && policy.access !== "user-or-key")
    throw new Error(`route ${route} asks for a recent authentication but its access is "${policy.access}"`);
  if (policy.cost !== undefined && !(Number.isInteger(policy.cost) && policy.cost >= 0))
    throw new Error(`route ${route}: cost must be a whole number of credits, 0 or more`);
  for (const rule of policy.rateLimits ?? []) {
    if (!scopeResolves(rule.scope, policy))
      throw new Error(
        `route ${route}: rate limit "${rule.name}" counts per ${rule.scope}, which access "${policy.access}"` +
          `${policy.org === undefined ? " without org binding" : ""} cannot resolve`,
      );
  }
  return {
    access: policy.access,
    org: policy.org === undefined ? undefined : { role: "member", ...policy.org },
    scopes: policy.scopes ?? [],
    rateLimits: (policy.rateLimits ?? DEFAULT_POLICY.rateLimits).map(resolveRateLimitRule),
    body: policy.body ?? "json",
    bodyLimitBytes: policy.body === "none" ? 0 : (policy.bodyLimitBytes ?? DEFAULT_POLICY.bodyLimitBytes),
    accepts: new Set(policy.accepts ?? DEFAULT_POLICY.accepts),
    timeout: policy.timeout ?? (method === "GET" || method === "HEAD" ? "read" : "write"),
    ...resolveCache(policy, method, route),
    headers: policy.headers ?? {},
    ipBlocks: policy.ipBlocks ?? DEFAULT_POLICY.ipBlocks,
    humanVerification: policy.humanVerification ?? DEFAULT_POLICY.humanVerification,
    deprecated: policy.deprecated === undefined ? undefined : resolveDeprecation(policy.deprecated, route),
    errors: policy.errors ?? [],
    metricsToken: policy.metricsToken ?? false,
    recentAuthMs: policy.recentAuth === undefined ? undefined : msOf(policy.recentAuth),
    cost: policy.cost ?? 1,
  };
}

function resolveDeprecation({ since, sunset, link }: Deprecation, route: string): ResolvedDeprecation {
  const sinceMs = Date.parse(since);
  const sunsetMs = Date.parse(sunset);
  if (Number.isNaN(sinceMs) || Number.isNaN(sunsetMs))
    throw new Error(`route ${route}: deprecated.since and deprecated.sunset must be ISO dates`);
  if (sunsetMs < sinceMs) throw new Error(`route ${route}: its sunset comes before its deprecation`);
  return { sinceMs, sunsetMs, link };
}
