/**
 * Building blocks for route policies: rate-limit rules named for what they count, and the usual shapes of a
 * read and a write. A route spreads them and adds its own, e.g.
 * `userOrKey: { ...READ, scopes: ["orgs:read"], rateLimits: [perUser(300, "1m"), perKey(600, "1m")] }`.
 */
import type { CachePolicy } from "./cache-policy.ts";
import type { Duration } from "./duration.ts";
import type { AccessPolicy, RateLimitRule, RateLimitScope } from "./route-policy.ts";

type RuleOptions = Pick<RateLimitRule, "algorithm" | "onStoreFailure"> & { name?: string };

function rule(scope: RateLimitScope, limit: number, window: Duration, options: RuleOptions = {}): RateLimitRule {
  const { name = `per-${scope}`, ...rest } = options;
  return { name, limit, window, scope, ...rest };
}

/** Counts per client address. */
export const perIp = (limit: number, window: Duration, options?: RuleOptions) => rule("ip", limit, window, options);
/** Counts per signed-in user. */
export const perUser = (limit: number, window: Duration, options?: RuleOptions) => rule("user", limit, window, options);
/** Counts per API key. */
export const perKey = (limit: number, window: Duration, options?: RuleOptions) => rule("key", limit, window, options);
/** Counts per organization: the bound one, or the key's own, for users and keys alike. */
export const perOrg = (limit: number, window: Duration, options?: RuleOptions) => rule("org", limit, window, options);

/**
 * The step-up window of sensitive actions (password change, key creation, removing a second factor): a user
 * who signed in or confirmed who they are longer ago than this is asked to again (403 REAUTHENTICATION_REQUIRED).
 */
export const RECENT_SIGN_IN = "10m" as const satisfies Duration;

/** A read: no body accepted, the read deadline. */
export const READ = { body: "none", timeout: "read" } as const satisfies AccessPolicy;
/** A write with a small JSON body (up to 4 KiB), the write deadline. */
export const WRITE = { bodyLimitBytes: 4 * 1024, timeout: "write" } as const satisfies AccessPolicy;
/** A write that takes no body (a revocation, a grant named by the path), the write deadline. */
export const WRITE_NO_BODY = { body: "none", timeout: "write" } as const satisfies AccessPolicy;

/**
 * A private response cache for a read of the organization in the path (`:orgId`), filed under the tags
 * `tagsOf` names for it; the writes that change the answer purge them once they commit, so the TTL bounds only
 * a purge that failed.
 */
export const orgCache = (
  tagsOf: (orgId: string) => readonly string[],
  ttl: CachePolicy["ttl"] = "5m",
): CachePolicy => ({
  scope: "private",
  ttl,
  staleIfError: "10m",
  tags: ({ params }) => tagsOf(params.orgId as string),
});
