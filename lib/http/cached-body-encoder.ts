/**
 * Cached bodies in the encoding each client accepts. Each entry is compressed once per encoding and kept (by its
 * ETag), so a hot key costs no compression per hit; entries stay stored as identity text, readable by any client.
 */

import type { BodyEncoder, CachedEntry } from "../cache/cached-entry.ts";
import { setBounded } from "../collections/bounded-map.ts";
import { compressBody, MIN_COMPRESSIBLE_BYTES, negotiateEncoding } from "./compression.ts";

export const DEFAULT_KEPT_ENCODINGS = 200;

const ENCODER = new TextEncoder();

/** `enabled` false (COMPRESSION=off, a CDN compresses) sends bodies as stored. */
export function createEntryEncoder(enabled: boolean, kept = DEFAULT_KEPT_ENCODINGS): BodyEncoder {
  const encoded = new Map<string, Uint8Array<ArrayBuffer>>();
  const encode = (entry: CachedEntry, acceptEncoding: string | null, headers: Headers): BodyInit => {
    if (!enabled) return entry.body;
    const { encoding, identity } = negotiateEncoding(acceptEncoding);
    if (encoding === undefined) return entry.body;
    if (identity && Buffer.byteLength(entry.body) < MIN_COMPRESSIBLE_BYTES) return entry.body;
    const key = `${entry.etag}\u0000${encoding}`;
    let bytes = encoded.get(key);
    if (bytes === undefined) {
      bytes = compressBody(ENCODER.encode(entry.body), encoding);
      setBounded(encoded, key, bytes, kept);
    }
    headers.set("content-encoding", encoding);
    // The strong ETag names the identity bytes; a compressed representation carries it weak (RFC 9110 §8.8.3).
    headers.set("etag", `W/${entry.etag}`);
    return bytes;
  };
  return Object.assign(encode, { variesByEncoding: enabled });
}
