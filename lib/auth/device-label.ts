/** A short label for the device a session was started from ("Firefox on macOS"), read from its User-Agent. */
const MAX_LABEL_LENGTH = 64;

// Order matters: Edge and Opera also claim Chrome, Chrome also claims Safari; iOS also claims Mac OS X,
// Android also claims Linux.
const BROWSERS: readonly (readonly [RegExp, string])[] = [
  [/\bEdg(e|A|iOS)?\//, "Edge"],
  [/\bOPR\/|\bOpera\b/, "Opera"],
  [/\bFirefox\/|\bFxiOS\//, "Firefox"],
  [/\bChrome\/|\bCriOS\//, "Chrome"],
  [/\bSafari\//, "Safari"],
];
const SYSTEMS: readonly (readonly [RegExp, string])[] = [
  [/\biPhone\b|\biPad\b/, "iOS"],
  [/\bAndroid\b/, "Android"],
  [/\bCrOS\b/, "ChromeOS"],
  [/\bMacintosh\b|\bMac OS X\b/, "macOS"],
  [/\bWindows\b/, "Windows"],
  [/\bLinux\b/, "Linux"],
];
// A non-browser client: its first product token, e.g. "curl/8.5.0" or "MyApp/2.1".
const PRODUCT = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)?/;

const firstMatch = (userAgent: string, table: readonly (readonly [RegExp, string])[]) =>
  table.find(([pattern]) => pattern.test(userAgent))?.[1];

export function deviceLabel(userAgent: string | null): string | null {
  if (userAgent === null || userAgent.trim() === "") return null;
  const browser = firstMatch(userAgent, BROWSERS);
  const system = firstMatch(userAgent, SYSTEMS);
  if (browser !== undefined && system !== undefined) return `${browser} on ${system}`;
  return (browser ?? system ?? PRODUCT.exec(userAgent.trim())?.[0] ?? "unknown").slice(0, MAX_LABEL_LENGTH);
}
