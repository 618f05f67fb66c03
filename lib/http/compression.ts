/**
 * Response compression by Accept-Encoding: zstd, then br, then gzip. `node:zlib` because it has all three under
 * Bun and Deno alike, where `CompressionStream` differs (neither takes "br"; Deno has no "zstd").
 */
import { brotliCompressSync, constants, gzipSync, zstdCompressSync } from "node:zlib";

export type ContentEncoding = "zstd" | "br" | "gzip";

/** Server preference on equal q-values: zstd 3 is the fastest and about as small as br 5 (bench/compression.ts). */
export const CONTENT_ENCODINGS: readonly ContentEncoding[] = ["zstd", "br", "gzip"];

/** Below this a compressed body saves less than its headers and the work cost. */
export const MIN_COMPRESSIBLE_BYTES = 1024;

// Brotli's default quality 11 took 1.4 s on 325 KB; 5 takes milliseconds for a few percent more bytes.
const BROTLI_QUALITY = 5;
const ZSTD_LEVEL = 3;

/** Whether a client accepts an encoding, and whether it still takes an identity (uncompressed) body. */
export interface AcceptedEncodings {
  /** The accepted coding with the highest q-value, server preference breaking ties; undefined for identity. */
  encoding: ContentEncoding | undefined;
  /** False when `identity;q=0` (or `*;q=0` without identity listed): then even a small body is compressed. */
  identity: boolean;
}

/**
 * Reads an Accept-Encoding header (RFC 9110 §12.5.3): q-values, `*` for any coding not listed, `q=0` refusing one.
 * @example negotiateEncoding("gzip, br;q=0.9") // { encoding: "gzip", identity: true }
 */
export function negotiateEncoding(
  acceptEncoding: string | null,
  offered: readonly ContentEncoding[] = CONTENT_ENCODINGS,
): AcceptedEncodings {
  if (acceptEncoding === null) return { encoding: undefined, identity: true };
  const weights = new Map<string, number>();
  for (const item of acceptEncoding.toLowerCase().split(",")) {
    const [coding = "", ...params] = item.split(";").map((part) => part.trim());
    if (coding === "") continue;
    const q = params.find((param) => param.startsWith("q="));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(coding, Number.isFinite(weight) ? weight : 0);
  }
  const any = weights.get("*");
  let encoding: ContentEncoding | undefined;
  let best = 0;
  for (const coding of offered) {
    const weight = weights.get(coding) ?? any ?? 0;
    if (weight > best) [encoding, best] = [coding, weight];
  }
  const identity = (weights.get("identity") ?? any ?? 1) > 0;
  return { encoding, identity };
}

/** The encoding to answer in, or undefined for identity. */
export function preferredEncoding<E extends ContentEncoding = ContentEncoding>(
  acceptEncoding: string | null,
  offered: readonly E[] = CONTENT_ENCODINGS as readonly E[],
): E | undefined {
  return negotiateEncoding(acceptEncoding, offered).encoding as E | undefined;
}

// JSON (and +json), text, JavaScript, CSS, SVG and XML; images, archives and fonts are compressed already.
const COMPRESSIBLE = /^(?:text\/|application\/(?:[\w.-]+\+)?(?:json|xml)\b|application\/javascript\b|image\/svg\+xml)/i;

export function isCompressibleType(contentType: string | null): boolean {
  return contentType !== null && COMPRESSIBLE.test(contentType);
}

/**
 * Compresses a body once, synchronously: zstd level 3, br quality 5, or gzip level 6. A stored entry is
 * compressed with this once and served as is to every client that accepts the encoding.
 */
export function compressBody(bytes: Uint8Array, encoding: ContentEncoding): Uint8Array<ArrayBuffer> {
  const output =
    encoding === "zstd"
      ? zstdCompressSync(bytes, { params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } })
      : encoding === "br"
        ? brotliCompressSync(bytes, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
              [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength,
            },
          })
        : gzipSync(bytes);
  return new Uint8Array(output.buffer, output.byteOffset, output.byteLength) as Uint8Array<ArrayBuffer>;
}

/** `Vary` with one more header name, kept once whatever its case; `*` already varies on everything. */
export function mergeVary(existing: string | null, name: string): string {
  if (existing === null || existing.trim() === "") return name;
  const names = existing.split(",").map((part) => part.trim().toLowerCase());
  return names.includes(name.toLowerCase()) || names.includes("*") ? existing : `${existing}, ${name}`;
}

const ENCODER = new TextEncoder();

/**
 * Whether a body of `length` UTF-16 code units might be compressed: the cheap test made before anything else,
 * so a small answer pays nothing more. UTF-8 has at least as many bytes as code units, so a long text is large
 * enough; a short one is only when the client refuses identity.
 */
export function mayCompress(length: number, acceptEncoding: string | null): boolean {
  return length >= MIN_COMPRESSIBLE_BYTES || acceptEncoding?.includes("identity") === true;
}

/**
 * A text body (JSON, usually) in the encoding the client prefers: sets Content-Encoding and `Vary:
 * Accept-Encoding` on `headers`. A strong ETag names the identity bytes, so a compressed answer carries it
 * weak (RFC 9110 §8.8.3), which keeps 304s right behind a CDN that stores both.
 * @example
 * const body = encodeTextBody(JSON.stringify(data), request.headers.get("accept-encoding"), headers);
 * return new Response(body, { headers });
 */
export function encodeTextBody(text: string, acceptEncoding: string | null, headers: Headers): BodyInit {
  const { encoding, identity } = negotiateEncoding(acceptEncoding);
  headers.set("vary", mergeVary(headers.get("vary"), "accept-encoding"));
  if (encoding === undefined) return text;
  const bytes = ENCODER.encode(text);
  if (identity && bytes.byteLength < MIN_COMPRESSIBLE_BYTES) return text;
  headers.set("content-encoding", encoding);
  const etag = headers.get("etag");
  if (etag?.startsWith('"')) headers.set("etag", `W/${etag}`);
  return compressBody(bytes, encoding);
}
