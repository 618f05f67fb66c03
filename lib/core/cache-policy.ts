/**
 * A route's response-cache declaration (`cache: { scope, ttl, … }`) and its resolution, done once when the route
 * is defined. The mechanism that serves it lives in lib/cache/.
 */
import { type Duration, msOf } from "./duration.ts";

/** What a route's tags are derived from: its path parameters and who is asking. */
export interface CacheFacts {
  readonly params: Readonly<Record<string, string>>;
  readonly orgId: string | undefined;
  readonly userId: string | undefined;
}

export interface CachePolicy {
  /**
   * public: the same answer for everyone, allowed only on `access: "public"` routes (a CDN's cache key ignores
   * Authorization); private: kept per caller's organization, or per user without one.
   */
  scope: "public" | "private";
  /**
   * How long an entry is fresh: fixed, or adaptive, a tenth of the shortest interval between purges of its tags
   * (lib/cache/purge-intervals.ts) within `{ min, max }`; `max` for tags without a purge history.
   */
  ttl: Duration | { min: Duration; max: Duration };
  /** How long past `ttl` an entry is still served (STALE) while one background refresh runs. */
  staleWhileRevalidate?: Duration;
  /** How long past `ttl` an entry is still served when the handler fails with a dependency error. */
  staleIfError?: Duration;
  /** Tags purged together by `purgeTags` (lib/cache/purge-tags.ts), e.g. `org:<id>`. */
  tags?: (facts: CacheFacts) => readonly string[];
  /** Request headers whose values select different entries (sent back as `Vary`). */
  vary?: readonly string[];
}

export interface ResolvedCachePolicy {
  readonly scope: "public" | "private";
  /** The longest an entry is fresh: the fixed TTL, or an adaptive one's maximum. */
  readonly ttlMs: number;
  /** The shortest an adaptive TTL may be; equal to `ttlMs` for a fixed one. */
  readonly minTtlMs: number;
  readonly staleWhileRevalidateMs: number;
  readonly staleIfErrorMs: number;
  readonly tags: (facts: CacheFacts) => readonly string[];
  /** Lower-cased. */
  readonly vary: readonly string[];
  /** The Cache-Control the route's answers carry. */
  readonly cacheControl: string;
}

const NO_TAGS = (): readonly string[] => [];

/**
 * Browsers keep a private answer but revalidate it each time (a 304 costs no body); a public one is revalidated
 * by browsers too, while shared caches may hold it for its TTL.
 */
export function cacheControlOf(scope: CachePolicy["scope"], ttlMs: number): string {
  return scope === "private" ? "private, no-cache" : `public, max-age=0, s-maxage=${Math.floor(ttlMs / 1000)}`;
}

/** `route` names the route in a start-up error. */
export function resolveCachePolicy(policy: CachePolicy, access: string, route: string): ResolvedCachePolicy {
  if (policy.scope === "public" && access !== "public")
    throw new Error(
      `route ${route} declares a public cache but its access is "${access}": a CDN's cache key ignores ` +
        'Authorization, so use scope "private"',
    );
  const { ttl } = policy;
  const ttlMs = msOf(typeof ttl === "string" ? ttl : ttl.max);
  const minTtlMs = typeof ttl === "string" ? ttlMs : msOf(ttl.min);
  if (minTtlMs > ttlMs) throw new Error(`route ${route} declares a TTL whose min is above its max`);
  return {
    scope: policy.scope,
    ttlMs,
    minTtlMs,
    staleWhileRevalidateMs: policy.staleWhileRevalidate === undefined ? 0 : msOf(policy.staleWhileRevalidate),
    staleIfErrorMs: policy.staleIfError === undefined ? 0 : msOf(policy.staleIfError),
    tags: policy.tags ?? NO_TAGS,
    vary: (policy.vary ?? []).map((name) => name.toLowerCase()),
    cacheControl: cacheControlOf(policy.scope, ttlMs),
  };
}
