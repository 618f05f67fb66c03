/**
 * Presigned-style URLs for the embedded storage: an HMAC over the method, key, expiry and every header or
 * response override the URL pins, checked by the handler the dev server serves on its own origin. Like S3's,
 * a PUT must carry exactly the signed type, length and digest, and the body must match them.
 */
import type { EmbeddedStorage } from "./embedded-storage.ts";
import { StorageError } from "./object-storage.ts";

export interface EmbeddedUrlSigner {
  sign(fields: string): Promise<string>;
  verify(fields: string, signature: string): Promise<boolean>;
}

const PUT_HEADERS = ["content-type", "content-length", "x-amz-checksum-sha256"] as const;
const GET_OVERRIDES = ["response-content-type", "response-content-disposition"] as const;
const encoder = new TextEncoder();

/** What a URL's signature covers, one value a line so no two sets of values sign alike. */
export function signedUrlFields(method: string, key: string, expires: number, values: Record<string, string>): string {
  const names = Object.keys(values).sort();
  return [method, key, String(expires), ...names.map((name) => `${name}:${values[name]}`)].join("\n");
}

/** The signing key is derived from `secret` (the newest encryption key), so it survives restarts. */
export async function createEmbeddedUrlSigner(secret: Uint8Array): Promise<EmbeddedUrlSigner> {
  const hmac = (raw: BufferSource) =>
    crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  const derived = await crypto.subtle.sign(
    "HMAC",
    await hmac(new Uint8Array(secret)),
    encoder.encode("rampart embedded storage urls"),
  );
  const key = await hmac(derived);
  const hex = (bytes: ArrayBuffer) => Buffer.from(bytes).toString("hex");
  return {
    sign: async (fields) => hex(await crypto.subtle.sign("HMAC", key, encoder.encode(fields))),
    verify: async (fields, signature) =>
      /^[0-9a-f]{64}$/.test(signature) &&
      crypto.subtle.verify("HMAC", key, Buffer.from(signature, "hex"), encoder.encode(fields)),
  };
}

// User content is never rendered here: no sniffing, no scripts, no framing, downloaded rather than shown.
const CONTENT_HEADERS = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; sandbox",
  "access-control-allow-origin": "*",
};

const refuse = (status: number, code: string) =>
  new Response(`<Error><Code>${code}</Code></Error>`, {
    status,
    headers: { ...CONTENT_HEADERS, "content-type": "application/xml" },
  });

/** Serves signed PUTs and GETs of `storage`'s objects: the dev server's stand-in for the bucket's origin. */
export function createEmbeddedStorageHandler(storage: EmbeddedStorage): (request: Request) => Promise<Response> {
  const { signer, now } = storage.options;
  return async (request) => {
    if (request.method === "OPTIONS")
      return new Response(null, {
        status: 204,
        headers: {
          ...CONTENT_HEADERS,
          "access-control-allow-methods": "GET, PUT",
          "access-control-allow-headers": "content-type, x-amz-checksum-sha256",
        },
      });
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    const expires = Number(url.searchParams.get("expires"));
    const signature = url.searchParams.get("signature") ?? "";
    if (!Number.isSafeInteger(expires)) return refuse(403, "AccessDenied");
    if (now() / 1000 > expires) return refuse(403, "ExpiredRequest");
    const method = request.method === "HEAD" ? "GET" : request.method;
    const pick = (names: readonly string[], from: (name: string) => string | null) =>
      Object.fromEntries(names.map((name) => [name, from(name) ?? ""]));
    const values =
      method === "PUT"
        ? pick(PUT_HEADERS, (name) => request.headers.get(name))
        : pick(GET_OVERRIDES, (name) => url.searchParams.get(name));
    if (!(method === "PUT" || method === "GET")) return refuse(405, "MethodNotAllowed");
    if (!(await signer.verify(signedUrlFields(method, key, expires, values), signature)))
      return refuse(403, "SignatureDoesNotMatch");
    try {
      if (method === "PUT") {
        const body = request.body ?? new Blob([]).stream();
        await storage.write(key, body, {
          size: Number(values["content-length"]),
          contentType: values["content-type"] ?? "",
          sha256: values["x-amz-checksum-sha256"],
        });
        return new Response(null, { status: 200, headers: CONTENT_HEADERS });
      }
      const object = await storage.get(key);
      if (object === undefined) return refuse(404, "NoSuchKey");
      return new Response(request.method === "HEAD" ? null : object.body, {
        headers: {
          ...CONTENT_HEADERS,
          "content-type": values["response-content-type"] ?? "",
          "content-disposition": values["response-content-disposition"] ?? "",
          "content-length": String(object.size),
          // Content-addressed: the bytes behind a key never change, so the URL may be kept until it expires.
          "cache-control": `private, max-age=${Math.max(0, Math.floor(expires - now() / 1000))}, immutable`,
        },
      });
    } catch (error) {
      if (error instanceof StorageError) return refuse(error.status, "BadDigest");
      throw error;
    }
  };
}
