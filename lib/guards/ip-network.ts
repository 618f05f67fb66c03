/**
 * IPv4 and IPv6 networks as bits, for CIDR blocks: parsing an operator's target into canonical form and
 * testing whether a client's address falls inside.
 */
// Addresses must be keyed exactly as the client-address guard keys them (IPv6 by /64), so this reuses
// its parser rather than keeping a second one that could drift.
import { normaliseClientAddress } from "./client-ip.ts";

/** An address or range as bits: IPv4 in `hi`; IPv6 by its first 64 bits, since clients are told apart by /64. */
export interface Network {
  family: 4 | 6;
  hi: number;
  lo: number;
  prefix: number;
}

const IPV4_KEY = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/;
const IPV6_KEY = /^([0-9a-f]{1,4}):([0-9a-f]{1,4}):([0-9a-f]{1,4}):([0-9a-f]{1,4})::\/64$/;

const mask = (bits: number) => (bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0);

/** The bits of a normalised client key; undefined for anything that is not an address (e.g. "unknown"). */
export function networkOfClientKey(key: string): Network | undefined {
  const v4 = IPV4_KEY.exec(key);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    return { family: 4, hi: ((a << 24) | (b << 16) | (c << 8) | d) >>> 0, lo: 0, prefix: 32 };
  }
  const v6 = IPV6_KEY.exec(key);
  if (v6 === null) return undefined;
  const [g0, g1, g2, g3] = v6.slice(1).map((group) => Number.parseInt(group, 16)) as [number, number, number, number];
  return { family: 6, hi: ((g0 << 16) | g1) >>> 0, lo: ((g2 << 16) | g3) >>> 0, prefix: 64 };
}

export function covers(range: Network, address: Network): boolean {
  return (
    range.family === address.family &&
    (address.hi & mask(range.prefix)) >>> 0 === range.hi &&
    (address.lo & mask(range.prefix - 32)) >>> 0 === range.lo
  );
}

/** A single client address (a /32, or an IPv6 /64), matched by its key alone. */
export function isFullAddress(network: Network): boolean {
  return network.prefix === (network.family === 4 ? 32 : 64);
}

function formatNetwork(network: Network): string {
  if (network.family === 4) {
    const { hi } = network;
    const address = `${hi >>> 24}.${(hi >>> 16) & 255}.${(hi >>> 8) & 255}.${hi & 255}`;
    return network.prefix === 32 ? address : `${address}/${network.prefix}`;
  }
  const groups = [network.hi >>> 16, network.hi & 0xffff, network.lo >>> 16, network.lo & 0xffff].map((g) =>
    g.toString(16),
  );
  return `${groups.join(":")}::/${network.prefix}`;
}

/**
 * Parses an operator's target into its canonical form: host bits cleared, a single address keyed as clients are, no
 * range wider than /8 (IPv4) or /32 (IPv6).
 */
export function parseNetwork(text: string): { target: string; network: Network } | { problem: string } {
  const [address = "", prefixText, extra] = text.trim().split("/");
  const key = extra === undefined ? normaliseClientAddress(address) : undefined;
  const parsed = key === undefined ? undefined : networkOfClientKey(key);
  if (parsed === undefined)
    return { problem: "must be an IPv4 or IPv6 address or CIDR range, e.g. 203.0.113.7 or 10.0.0.0/8" };
  const widest = parsed.family === 4 ? 32 : 64;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))
    return { problem: "must end in a prefix length like /24" };
  const prefix = prefixText === undefined ? widest : Number(prefixText);
  // A block this wide would shut out a large share of the internet, most likely by a typo (0.0.0.0/0).
  const narrowest = parsed.family === 4 ? 8 : 32;
  if (prefix < narrowest) return { problem: `must have a prefix length of at least ${narrowest}` };
  if (prefix > widest) {
    return {
      problem:
        parsed.family === 4
          ? "must have a prefix length of at most 32"
          : "must be a /64 or wider: IPv6 clients are told apart by their /64",
    };
  }
  const network: Network = {
    family: parsed.family,
    hi: (parsed.hi & mask(prefix)) >>> 0,
    lo: (parsed.lo & mask(prefix - 32)) >>> 0,
    prefix,
  };
  return { target: formatNetwork(network), network };
}
