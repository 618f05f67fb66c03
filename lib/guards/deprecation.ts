/**
 * Deprecated routes announce it on every answer: `Deprecation: @<unix seconds>` (RFC 9745), `Sunset: <HTTP-date>`
 * (RFC 8594) and a `Link` to the migration notes with rel "deprecation" and "sunset"; from the sunset on, the
 * route answers 410 GONE instead of running.
 */
import type { ResolvedDeprecation } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";
import type { HeaderList } from "./security-headers.ts";

/** The headers a deprecated route sends, fixed when the app is built. */
export function deprecationHeaders(deprecation: ResolvedDeprecation | undefined): HeaderList {
  if (deprecation === undefined) return [];
  const headers: [string, string][] = [
    ["deprecation", `@${Math.floor(deprecation.sinceMs / 1000)}`],
    ["sunset", new Date(deprecation.sunsetMs).toUTCString()],
  ];
  const { link } = deprecation;
  if (link !== undefined)
    headers.push(["link", `<${link}>; rel="deprecation"; type="text/html", <${link}>; rel="sunset"; type="text/html"`]);
  return headers;
}

/** Refuses a route past its sunset. */
export function assertNotSunset(deprecation: ResolvedDeprecation | undefined, now: number): void {
  if (deprecation !== undefined && now >= deprecation.sunsetMs) throw new AppError("GONE");
}
