/**
 * The client's address under the configured trust model. Proxy headers are believed only when a
 * proxy we trust sets them, so a spoofed X-Forwarded-For cannot reset a rate-limit bucket.
 * IPv4-mapped IPv6 is read as IPv4, and IPv6 clients are grouped by /64 (one subscriber's prefix).
 */
import type { TrustProxy } from "../config/config.ts";

export const UNKNOWN_CLIENT = "unknown";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAPPED_IPV4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

function expandIpv6(address: string): number[] | undefined {
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const [head = "", tail] = halves;
  const parse = (part: string) => (part === "" ? [] : part.split(":"));
  const parts = [...parse(head), ...(tail === undefined ? [] : ["::"]), ...parse(tail ?? "")];
  // A dotted quad may stand for the last two groups (RFC 4291 2.2), and only there.
  const last = parts.at(-1) ?? "";
  if (last.includes(".")) {
    if (!IPV4.test(last)) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = last.split(".").map(Number);
    parts.splice(-1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  const gap = parts.indexOf("::");
  const written = parts.filter((part) => part !== "::");
  if (!written.every((group) => HEX_GROUP.test(group))) return undefined;
  const missing = 8 - written.length;
  if ((gap === -1 && missing !== 0) || (gap !== -1 && missing < 1)) return undefined;
  const groups = written.map((group) => Number.parseInt(group, 16));
  if (gap !== -1) groups.splice(gap, 0, ...Array<number>(missing).fill(0));
  return groups;
}

// The same few addresses arrive again and again; parsing costs more than a lookup. Longer strings are not
// addresses anyway, and are not kept, so a flood of junk cannot grow the cache past its bound.
const normalisedAddresses = new Map<string, string | null>();
const MAX_CACHED_ADDRESSES = 10_000;
const MAX_CACHED_LENGTH = 64;

/** The key an address is counted and blocked under; undefined when it is not an IP address. */
export function normaliseClientAddress(raw: string): string | undefined {
  const cached = normalisedAddresses.get(raw);
  if (cached !== undefined) return cached ?? undefined;
  const key = parseClientAddress(raw);
  if (raw.length <= MAX_CACHED_LENGTH) {
    if (normalisedAddresses.size >= MAX_CACHED_ADDRESSES) normalisedAddresses.clear();
    normalisedAddresses.set(raw, key ?? null);
  }
  return key;
}

function parseClientAddress(raw: string): string | undefined {
  const address = raw
    .trim()
    .replace(/^\[|\]$/g, "")
    .replace(/%.*$/, "");
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
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(":")}::/64`;
}

export function createClientIpResolver(trust: TrustProxy) {
  return (request: Request, socketAddress: string | undefined): string => {
    let candidate: string | undefined;
    if (trust.kind === "vercel") {
      candidate =
        request.headers.get("x-vercel-forwarded-for")?.split(",")[0] ?? request.headers.get("x-real-ip") ?? undefined;
    } else if (trust.kind === "hops") {
      // Each trusted proxy appends the address it saw; the client is `hops` entries from the end.
      const hops = (request.headers.get("x-forwarded-for") ?? "")
        .split(",")
        .map((h) => h.trim())
        .filter((h) => h !== "");
      candidate = hops[hops.length - trust.hops];
    }
    // A believed header that holds no address falls back to the connection, keyed the same way.
    return (
      normaliseClientAddress(candidate ?? "") ??
      normaliseClientAddress(socketAddress ?? "") ??
      socketAddress ??
      UNKNOWN_CLIENT
    );
  };
}
