/**
 * S3-compatible object storage (AWS S3, Cloudflare R2, s3rver in tests) signed with aws4fetch's SigV4 signer,
 * which runs on WebCrypto in Bun and Deno alike. Bun's own S3 client is not used: its presigned URLs sign only
 * `host`, so they cannot pin an upload's type, length or digest (oven-sh/bun#43029).
 */
import { AwsV4Signer } from "aws4fetch";
import type { Breaker } from "../resilience/breaker.ts";
import {
  attachmentDisposition,
  type ByteRange,
  encodeKey,
  type ObjectHead,
  type ObjectListing,
  type ObjectStorage,
  type PresignedPut,
  type PresignGetOptions,
  type PresignPutOptions,
  type PutOptions,
  StorageError,
  type StoredObject,
} from "./object-storage.ts";

export interface S3StorageOptions {
  /** `https://<account>.r2.cloudflarestorage.com`, `https://s3.eu-west-1.amazonaws.com`, or a local stand-in. */
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `<endpoint>/<bucket>/<key>` when true, `<bucket>.<endpoint host>/<key>` (virtual-hosted) when false. */
  pathStyle: boolean;
  /** Deadline of one call that carries no body of unknown length. */
  timeoutMs: number;
  /** Signing time as `YYYYMMDDTHHMMSSZ`; tests fix it to compare signatures. @default the current time */
  datetime?: () => string;
}

/** S3's smallest part but the last; parts are buffered one at a time, so this bounds an upload's memory. */
export const MULTIPART_PART_BYTES = 5 * 1024 * 1024;

const amzDate = () => new Date().toISOString().replace(/[:-]|\.\d{3}/g, "");
const xmlText = (xml: string, tag: string) =>
  [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) => unescapeXml(m[1] ?? ""));
const unescapeXml = (text: string) =>
  text.replace(/&(lt|gt|quot|apos|amp);/g, (_, name: string) => XML_ENTITIES[name] ?? "");
const XML_ENTITIES: Record<string, string> = { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" };

export class S3Storage implements ObjectStorage {
  readonly kind = "s3";
  readonly #base: string;
  readonly #datetime: () => string;

  constructor(
    private readonly options: S3StorageOptions,
    private readonly breaker: Breaker,
  ) {
    const endpoint = new URL(options.endpoint);
    this.#base = options.pathStyle
      ? `${endpoint.origin}/${encodeURIComponent(options.bucket)}`
      : `${endpoint.protocol}//${options.bucket}.${endpoint.host}`;
    this.#datetime = options.datetime ?? amzDate;
  }

  #url(key: string, query: Record<string, string> = {}): URL {
    const url = new URL(`${this.#base}/${encodeKey(key)}`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    return url;
  }

  async #sign(method: string, url: URL, headers: Record<string, string>, signQuery: boolean) {
    const { accessKeyId, secretAccessKey, region } = this.options;
    return new AwsV4Signer({
      method,
      url: url.toString(),
      headers,
      accessKeyId,
      secretAccessKey,
      region,
      service: "s3",
      datetime: this.#datetime(),
      signQuery,
      // Every header the client must send is signed: content-type, content-length and the checksum included.
      allHeaders: true,
    }).sign();
  }

  /** One signed call through the breaker; 5xx and no answer count as the store failing, 4xx do not. */
  async #call(
    method: string,
    url: URL,
    init: { headers?: Record<string, string>; body?: Uint8Array<ArrayBuffer>; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const signed = await this.#sign(method, url, init.headers ?? {}, false);
    const signals = [AbortSignal.timeout(this.options.timeoutMs), ...(init.signal ? [init.signal] : [])];
    return this.breaker.execute(async () => {
      const response = await fetch(signed.url, {
        method,
        headers: signed.headers,
        body: init.body,
        signal: AbortSignal.any(signals),
      });
      if (response.status >= 500) {
        await response.body?.cancel();
        throw new Error(`object storage answered ${response.status}`);
      }
      return response;
    });
  }

  async #expectOk(response: Response, what: string): Promise<Response> {
    if (response.ok) return response;
    const code = xmlText(await response.text(), "Code")[0] ?? "unknown";
    throw new StorageError(`${what} refused: ${response.status} ${code}`, response.status);
  }

  async put(
    key: string,
    body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>,
    options: PutOptions,
  ): Promise<void> {
    if (body instanceof Uint8Array) return this.#putOnce(key, body, options);
    const reader = new PartReader(body.getReader());
    const first = await reader.next();
    if (first.length < MULTIPART_PART_BYTES) return this.#putOnce(key, first, options);
    await this.#putParts(key, first, reader, options.contentType);
  }

  async #putOnce(key: string, body: Uint8Array<ArrayBuffer>, { contentType, sha256 }: PutOptions): Promise<void> {
    const headers: Record<string, string> = { "content-type": contentType, "content-length": String(body.length) };
    if (sha256 !== undefined) headers["x-amz-checksum-sha256"] = sha256;
    await this.#expectOk(await this.#call("PUT", this.#url(key), { headers, body }), "put");
  }

  /** Multipart upload, one part in memory at a time; aborted on any failure so no parts are left billed. */
  async #putParts(key: string, first: Uint8Array<ArrayBuffer>, reader: PartReader, contentType: string): Promise<void> {
    const created = await this.#call("POST", this.#url(key, { uploads: "" }), {
      headers: { "content-type": contentType },
    });
    const uploadId = xmlText(await (await this.#expectOk(created, "multipart create")).text(), "UploadId")[0];
    if (uploadId === undefined) throw new StorageError("multipart create answered no UploadId", 502);
    const etags: string[] = [];
    try {
      for (let part: Uint8Array<ArrayBuffer> = first; part.length > 0; part = await reader.next()) {
        const url = this.#url(key, { partNumber: String(etags.length + 1), uploadId });
        const headers = { "content-length": String(part.length) };
        const uploaded = await this.#expectOk(await this.#call("PUT", url, { headers, body: part }), "part");
        etags.push(uploaded.headers.get("etag") ?? "");
        if (part.length < MULTIPART_PART_BYTES) break;
      }
      const parts = etags.map((etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${etag}</ETag></Part>`);
      const xml = new TextEncoder().encode(`<CompleteMultipartUpload>${parts.join("")}</CompleteMultipartUpload>`);
      const completed = await this.#call("POST", this.#url(key, { uploadId }), {
        headers: { "content-type": "application/xml" },
        body: xml,
      });
      // S3 may answer 200 with an <Error> body when completing fails late.
      const answer = await (await this.#expectOk(completed, "multipart complete")).text();
      if (answer.includes("<Error>")) throw new StorageError(`multipart complete refused: ${answer.slice(0, 80)}`, 502);
    } catch (error) {
      await reader.cancel().catch(() => undefined);
      await this.#call("DELETE", this.#url(key, { uploadId })).catch(() => undefined);
      throw error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<StoredObject | undefined> {
    const headers: Record<string, string> = range ? { range: `bytes=${range.start}-${range.end}` } : {};
    const response = await this.#call("GET", this.#url(key), { headers });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    await this.#expectOk(response, "get");
    return { ...headOf(response), body: response.body ?? new Blob([]).stream() };
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    const response = await this.#call("HEAD", this.#url(key), { headers: { "x-amz-checksum-mode": "ENABLED" } });
    if (response.status === 404) return undefined;
    await this.#expectOk(response, "head");
    return headOf(response);
  }

  async delete(key: string): Promise<void> {
    const response = await this.#call("DELETE", this.#url(key));
    if (response.status !== 404) await this.#expectOk(response, "delete");
    await response.body?.cancel();
  }

  /**
   * ListObjects (v1, supported by S3 and R2) with the last key as the marker: v2's continuation tokens are DES in
   * s3rver, which Bun's crypto lacks, and a key cursor pages the same way everywhere.
   */
  async list(prefix: string, options: { cursor?: string; limit?: number } = {}): Promise<ObjectListing> {
    const url = new URL(`${this.#base}/`);
    url.searchParams.set("prefix", prefix);
    url.searchParams.set("max-keys", String(options.limit ?? 1000));
    if (options.cursor !== undefined) url.searchParams.set("marker", options.cursor);
    const xml = await (await this.#expectOk(await this.#call("GET", url), "list")).text();
    const objects = [...xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)].map(([, entry = ""]) => ({
      key: xmlText(entry, "Key")[0] ?? "",
      size: Number(xmlText(entry, "Size")[0] ?? 0),
    }));
    const truncated = xmlText(xml, "IsTruncated")[0] === "true";
    return { objects, cursor: truncated ? objects.at(-1)?.key : undefined };
  }

  /** A query-signed URL for `method` on `key`: the client must send exactly `headers`, all of them signed. */
  async presign(
    method: "GET" | "PUT",
    key: string,
    options: { expiresInSeconds: number; headers?: Record<string, string>; query?: Record<string, string> },
  ): Promise<string> {
    const url = this.#url(key, { "X-Amz-Expires": String(options.expiresInSeconds), ...options.query });
    return (await this.#sign(method, url, options.headers ?? {}, true)).url.toString();
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut> {
    const headers = {
      "content-type": options.contentType,
      "content-length": String(options.size),
      "x-amz-checksum-sha256": options.sha256,
    };
    const url = await this.presign("PUT", key, { expiresInSeconds: options.expiresInSeconds, headers });
    return { method: "PUT", url, headers, expiresAt: this.#expiry(options.expiresInSeconds) };
  }

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    return this.presign("GET", key, {
      expiresInSeconds: options.expiresInSeconds,
      query: {
        "response-content-disposition": attachmentDisposition(options.filename),
        "response-content-type": options.contentType,
        // Content-addressed: the bytes behind a key never change, so a browser may keep them while the URL lives.
        "response-cache-control": `private, max-age=${options.expiresInSeconds}, immutable`,
      },
    });
  }

  #expiry(seconds: number): string {
    const d = this.#datetime();
    const at = Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +d.slice(9, 11), +d.slice(11, 13));
    return new Date(at + Number(d.slice(13, 15)) * 1000 + seconds * 1000).toISOString();
  }

  async ping(signal: AbortSignal): Promise<void> {
    const url = new URL(`${this.#base}/`);
    url.searchParams.set("max-keys", "1");
    const response = await this.#call("GET", url, { signal });
    await this.#expectOk(response, "ping");
    await response.body?.cancel();
  }
}

function headOf(response: Response): ObjectHead {
  const range = response.headers.get("content-range");
  const size = Number(range?.split("/")[1] ?? response.headers.get("content-length") ?? 0);
  return {
    size,
    contentType: response.headers.get("content-type") ?? "application/octet-stream",
    sha256: response.headers.get("x-amz-checksum-sha256") ?? undefined,
  };
}

/** Cuts a stream into parts of MULTIPART_PART_BYTES (the last one shorter), copying each chunk once. */
class PartReader {
  #pending: Uint8Array | undefined;
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async next(): Promise<Uint8Array<ArrayBuffer>> {
    const part = new Uint8Array(MULTIPART_PART_BYTES);
    let filled = 0;
    while (filled < MULTIPART_PART_BYTES) {
      const chunk = this.#pending ?? (await this.reader.read()).value;
      this.#pending = undefined;
      if (chunk === undefined) break;
      const room = MULTIPART_PART_BYTES - filled;
      part.set(chunk.subarray(0, room), filled);
      filled += Math.min(room, chunk.length);
      if (chunk.length > room) this.#pending = chunk.subarray(room);
    }
    return part.subarray(0, filled);
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}
