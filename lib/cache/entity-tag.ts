/**
 * Strong entity tags over the identity (uncompressed) body, and `If-None-Match` matching (RFC 9110 §13.1.2):
 * a comma list or `*`, compared weakly, so `W/"x"` matches `"x"`.
 */
import { sha256 } from "../crypto/sha256.ts";

const TAG_BYTES = 16;

/** A strong ETag: 128 bits of the body's SHA-256, base64url. */
export function entityTag(body: string): string {
  return `"${Buffer.from(sha256(body).subarray(0, TAG_BYTES)).toString("base64url")}"`;
}

function opaqueTagOf(tag: string): string {
  const trimmed = tag.trim();
  return trimmed.startsWith("W/") ? trimmed.slice(2) : trimmed;
}

/** Whether an `If-None-Match` header names `etag` (a 304 is then the answer to a GET). */
export function matchesIfNoneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  const wanted = opaqueTagOf(etag);
  for (const tag of header.split(",")) {
    const candidate = tag.trim();
    if (candidate === "*" || opaqueTagOf(candidate) === wanted) return true;
  }
  return false;
}
