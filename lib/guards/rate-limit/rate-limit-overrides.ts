/**
 * Rate limits an operator set at run time (`PATCH /admin/settings`, `rateLimitOverrides`), keyed by route
 * path prefix: the longest prefix that covers a route replaces the rules the route declares. Resolved
 * once per route and settings version, so a request pays one map lookup.
 */
import { type ResolvedRateLimitRule, resolveRateLimitRule } from "../../core/route-policy.ts";
import type { Settings, SettingsSource } from "../../settings/settings.ts";

export type RateLimitRulesFor = (
  routePath: string,
  declared: readonly ResolvedRateLimitRule[],
) => readonly ResolvedRateLimitRule[];

function covers(prefix: string, routePath: string): boolean {
  if (!routePath.startsWith(prefix)) return false;
  return prefix.endsWith("/") || routePath.length === prefix.length || routePath[prefix.length] === "/";
}

export function overridingPrefix(overrides: Settings["rateLimitOverrides"], routePath: string): string | undefined {
  let best: string | undefined;
  for (const prefix of Object.keys(overrides))
    if (covers(prefix, routePath) && (best === undefined || prefix.length > best.length)) best = prefix;
  return best;
}

export function createRateLimitOverrides(settings: SettingsSource): RateLimitRulesFor {
  let resolvedFor: Settings | undefined;
  let byRoute = new Map<string, readonly ResolvedRateLimitRule[] | null>();
  return (routePath, declared) => {
    const current = settings.current();
    if (current !== resolvedFor) {
      resolvedFor = current;
      byRoute = new Map();
    }
    let rules = byRoute.get(routePath);
    if (rules === undefined) {
      const prefix = overridingPrefix(current.rateLimitOverrides, routePath);
      const override = prefix === undefined ? undefined : current.rateLimitOverrides[prefix];
      rules = override === undefined ? null : override.map(resolveRateLimitRule);
      byRoute.set(routePath, rules);
    }
    return rules ?? declared;
  };
}
