/**
 * The client's address under the configured trust model. Proxy headers are believed only when a
 * proxy we trust sets them, so a spoofed X-Forwarded-For cannot reset a rate-limit bucket.
 * IPv4-mapped IPv6 is read as IPv4, and IPv6 clients are grouped by /64 (one subscriber's prefix).
 */
import type { TrustProxy } from "../config/config.ts";

export const UNKNOWN_CLIENT = "unknown";

function expandIpv6(address: string): number[] | undefined {
  const [head = "", tail] = address.split("::");
  if (address.split("::").length > 2) return undefined;
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const missing = 8 - left.length - right.length;
  if ((tail === undefined && missing !== 0) || missing < 0) return undefined;
  const groups = [...left, ...Array<number>(missing).fill(0), ...right];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAPPED_IPV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** The key an address is counted and blocked under; undefined when it is not an IP address. */
export function normaliseClientAddress(raw: string): string | undefined {
  const address = raw.trim().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (IPV4.test(address)) return address;
  const mapped = MAPPED_IPV4.exec(address);
  if (mapped?.[1] !== undefined && IPV4.test(mapped[1])) return mapped[1];
  if (!address.includes(":")) return undefined;
  const groups = expandIpv6(address.toLowerCase());
  if (groups === undefined) return undefined;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [a = 0, b = 0] = groups.slice(6);
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

export function createClientIpResolver(trust: TrustProxy) {
  return (request: Request, socketAddress: string | undefined): string => {
    let candidate: string | undefined;
    if (trust.kind === "vercel") {
      candidate = request.headers.get("x-vercel-forwarded-for")?.split(",")[0] ?? request.headers.get("x-real-ip") ?? undefined;
    } else if (trust.kind === "hops") {
      // Each trusted proxy appends the address it saw; the client is `hops` entries from the end.
      const hops = (request.headers.get("x-forwarded-for") ?? "").split(",").map((h) => h.trim()).filter((h) => h !== "");
      candidate = hops[hops.length - trust.hops];
    }
    return normaliseClientAddress(candidate ?? socketAddress ?? "") ?? (socketAddress === undefined ? UNKNOWN_CLIENT : socketAddress);
  };
}
