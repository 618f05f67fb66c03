/**
 * The API key format: `<prefix>_` + 43 random base62 characters (256 bits) + a 6-character checksum, so
 * a typo, a truncated paste or a scanner's guess is refused without a database lookup.
 */
import { randomBytes } from "node:crypto";
import { sha256, sha256Hex } from "../crypto/sha256.ts";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
export const API_KEY_RANDOM_CHARS = 43;
export const API_KEY_CHECKSUM_CHARS = 6;
/** Random characters kept after the prefix in the visible part, enough to tell keys apart in a list. */
export const VISIBLE_RANDOM_CHARS = 6;
// The largest multiple of 62 a byte can hold: bytes at or above it are redrawn, so every character is uniform.
const UNBIASED_BYTE_LIMIT = 62 * 4;

export interface GeneratedApiKey {
  /** Shown to the caller once, never stored. */
  key: string;
  hash: string;
  visiblePrefix: string;
}

export interface ApiKeyFormat {
  readonly prefix: string;
  generate(): GeneratedApiKey;
  /** By prefix alone, to tell a key from a JWT; says nothing about validity. */
  isApiKey(presented: string): boolean;
  /** Shape and checksum: what can be checked without the database. */
  isWellFormed(presented: string): boolean;
  /** Prefix, length and alphabet only. */
  hasShape(presented: string): boolean;
  /** Of a key with the right shape: whether its last characters are the checksum of the rest. */
  hasValidChecksum(presented: string): boolean;
  hash(key: string): string;
}

function randomBase62(length: number): string {
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte >= UNBIASED_BYTE_LIMIT) continue;
      out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

// The first 32 bits of SHA-256 over everything before the checksum, as 6 base62 digits (62^6 > 2^32).
function checksumOf(body: string): string {
  const digest = sha256(body);
  let value =
    (((digest[0] as number) << 24) |
      ((digest[1] as number) << 16) |
      ((digest[2] as number) << 8) |
      (digest[3] as number)) >>>
    0;
  let out = "";
  for (let i = 0; i < API_KEY_CHECKSUM_CHARS; i++) {
    out = ALPHABET[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export function hashApiKey(key: string): string {
  return sha256Hex(key);
}

/** `prefix` is validated by the configuration (2–8 lower-case letters), so it is safe inside a pattern. */
export function createApiKeyFormat(prefix: string): ApiKeyFormat {
  const marker = `${prefix}_`;
  const shape = new RegExp(`^${prefix}_[0-9A-Za-z]{${API_KEY_RANDOM_CHARS + API_KEY_CHECKSUM_CHARS}}$`);
  const checksumAt = marker.length + API_KEY_RANDOM_CHARS;
  const hasShape = (presented: string) => shape.test(presented);
  const hasValidChecksum = (presented: string) =>
    checksumOf(presented.slice(0, checksumAt)) === presented.slice(checksumAt);
  return {
    prefix,
    generate() {
      const body = `${marker}${randomBase62(API_KEY_RANDOM_CHARS)}`;
      const key = `${body}${checksumOf(body)}`;
      return { key, hash: hashApiKey(key), visiblePrefix: key.slice(0, marker.length + VISIBLE_RANDOM_CHARS) };
    },
    isApiKey: (presented) => presented.startsWith(marker),
    isWellFormed: (presented) => hasShape(presented) && hasValidChecksum(presented),
    hasShape,
    hasValidChecksum,
    hash: hashApiKey,
  };
}
