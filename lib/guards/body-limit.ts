/**
 * Body limits: a declared Content-Length over the route's limit is refused before a byte is read;
 * a chunked body is counted while it streams and reading stops at the limit. A content type the
 * route does not accept is 415.
 */

import type { ResolvedPolicy } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";

export function mediaTypeOf(contentType: string | null): string | undefined {
  if (contentType === null) return undefined;
  const end = contentType.indexOf(";");
  return (end === -1 ? contentType : contentType.slice(0, end)).trim().toLowerCase();
}

/** Checks what the headers say; returns the byte limit still to enforce while reading. */
export function checkDeclaredBody(request: Request, policy: ResolvedPolicy): void {
  if (request.body === null) return;
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    // RFC 9110: digits only. Number() alone would also take "1e3", "0x10" and "+5".
    const length = /^\d+$/.test(declared) ? Number(declared) : Number.NaN;
    if (!Number.isSafeInteger(length)) throw new AppError("BAD_REQUEST", "Content-Length is not a valid length.");
    if (length > policy.bodyLimitBytes) throw tooLarge(policy.bodyLimitBytes);
    if (length === 0) return;
  }
  const mediaType = mediaTypeOf(request.headers.get("content-type"));
  if (mediaType === undefined || !policy.accepts.has(mediaType)) {
    throw new AppError("UNSUPPORTED_MEDIA_TYPE", undefined, { accepted: [...policy.accepts] });
  }
}

export function tooLarge(limit: number): AppError {
  return new AppError("PAYLOAD_TOO_LARGE", undefined, { limitBytes: limit });
}

/** Reads the body as bytes, stopping (and cancelling the stream) as soon as it passes `limit`. */
export async function readBodyWithin(request: Request, limit: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
