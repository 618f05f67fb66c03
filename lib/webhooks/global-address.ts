/**
 * Whether an IP address is global: one a webhook may be delivered to. Everything else is refused: loopback,
 * RFC 1918, link-local (169.254.169.254, the cloud metadata address), CGNAT, 0/8, multicast, reserved and
 * documentation ranges, ULA, and IPv6 forms that embed an IPv4 address (mapped, compatible, 6to4, NAT64)
 * unless the address they embed is itself global.
 */
import { isIPv4, isIPv6 } from "node:net";

// [first address as a number, prefix length]
const NON_GLOBAL_V4: readonly [string, number][] = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.88.99.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];

function v4Number(address: string): number {
  return address.split(".").reduce((value, part) => value * 256 + Number(part), 0);
}

const V4_RANGES = NON_GLOBAL_V4.map(([start, prefix]) => ({ start: v4Number(start), size: 2 ** (32 - prefix) }));

function isGlobalV4Number(value: number): boolean {
  return !V4_RANGES.some(({ start, size }) => value >= start && value < start + size);
}

/** The 8 groups of an IPv6 address, its dotted IPv4 tail (if any) folded in. */
function v6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (dotted !== undefined) {
    const value = v4Number(dotted);
    text = `${text.slice(0, -dotted.length)}${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const front = head === "" ? [] : head.split(":");
  const back = tail === undefined || tail === "" ? [] : tail.split(":");
  const middle = tail === undefined ? [] : new Array(8 - front.length - back.length).fill("0");
  return [...front, ...middle, ...back].map((group) => Number.parseInt(group, 16));
}

const embeddedV4 = (high: number, low: number) => high * 65536 + low;

function isGlobalV6(groups: number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = groups;
  // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds; checked first, as it lies inside ::/8.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0)
    return isGlobalV4Number(embeddedV4(g6, g7));
  // The rest of ::/8 holds the unspecified and loopback addresses and the IPv4-mapped and -compatible forms.
  if (g0 >> 8 === 0) return false;
  // 6to4 (2002::/16) reaches the IPv4 address in its next 32 bits.
  if (g0 === 0x2002) return isGlobalV4Number(embeddedV4(g1, g2));
  // Teredo (2001::/32) and documentation (2001:db8::/32) are not destinations.
  if (g0 === 0x2001 && (g1 === 0 || g1 === 0xdb8)) return false;
  // Global unicast is 2000::/3; ULA, link-local, site-local and multicast all fall outside it.
  return g0 >> 13 === 1;
}

export function isGlobalAddress(address: string): boolean {
  if (isIPv4(address)) return isGlobalV4Number(v4Number(address));
  if (isIPv6(address)) return isGlobalV6(v6Groups(address));
  return false;
}
