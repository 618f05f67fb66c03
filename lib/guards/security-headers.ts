/**
 * Security headers for a JSON API on every response, whatever its status. The header list is built
 * once; per response only the values are copied in.
 */
export interface SecurityHeadersOptions {
  hstsMaxAge: number;
  hstsIncludeSubDomains: boolean;
}

export const DEFAULT_SECURITY_HEADERS_OPTIONS: SecurityHeadersOptions = {
  hstsMaxAge: 31_536_000,
  hstsIncludeSubDomains: true,
};

export const PERMISSIONS_POLICY =
  "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), " +
  "usb=(), interest-cohort=()";

export type HeaderList = readonly (readonly [string, string])[];

export function buildSecurityHeaders(options: Partial<SecurityHeadersOptions> = {}): HeaderList {
  const { hstsMaxAge, hstsIncludeSubDomains } = { ...DEFAULT_SECURITY_HEADERS_OPTIONS, ...options };
  const headers: [string, string][] = [
    ["x-content-type-options", "nosniff"],
    ["x-frame-options", "DENY"],
    ["content-security-policy", "default-src 'none'; frame-ancestors 'none'"],
    ["referrer-policy", "no-referrer"],
    ["cross-origin-opener-policy", "same-origin"],
    ["cross-origin-resource-policy", "same-origin"],
    ["permissions-policy", PERMISSIONS_POLICY],
  ];
  if (hstsMaxAge > 0)
    headers.unshift([
      "strict-transport-security",
      `max-age=${hstsMaxAge}${hstsIncludeSubDomains ? "; includeSubDomains" : ""}`,
    ]);
  return headers;
}

/** The default list with a route's overrides merged in (computed when the route table is built). */
export function withOverrides(base: HeaderList, overrides: Readonly<Record<string, string>>): HeaderList {
  const lowered = Object.fromEntries(Object.entries(overrides).map(([name, value]) => [name.toLowerCase(), value]));
  const merged = base.map(([name, value]) => [name, lowered[name] ?? value] as const);
  for (const [name, value] of Object.entries(lowered)) if (!base.some(([n]) => n === name)) merged.push([name, value]);
  return merged;
}

export function applyHeaders(headers: Headers, list: HeaderList): void {
  for (const [name, value] of list) headers.set(name, value);
}
