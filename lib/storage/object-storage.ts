/**
 * One small interface over object storage: S3 and R2 (s3-storage.ts) in deployment, files under `.data/`
 * (embedded-storage.ts) for `bun dev`. Uploads and downloads from clients go through presigned URLs, never the API.
 */

export interface ObjectHead {
  size: number;
  contentType: string;
  /** Base64 SHA-256 of the body, when the store kept the checksum it was written with. */
  sha256: string | undefined;
}

export interface StoredObject extends ObjectHead {
  /** The bytes asked for: the whole object, or the range. */
  body: ReadableStream<Uint8Array>;
}

export interface ByteRange {
  /** First byte, from 0. */
  start: number;
  /** Last byte, inclusive (as in an HTTP Range header). */
  end: number;
}

export interface PutOptions {
  contentType: string;
  /** Base64 SHA-256 the store checks the body against. */
  sha256?: string;
}

export interface ObjectListing {
  objects: { key: string; size: number }[];
  /** Pass back to continue; undefined on the last page. */
  cursor: string | undefined;
}

/** What a client sends its bytes with: a PUT to `url` carrying exactly `headers`, or the store refuses it. */
export interface PresignedPut {
  method: "PUT";
  url: string;
  headers: { "content-type": string; "content-length": string; "x-amz-checksum-sha256": string };
  expiresAt: string;
}

export interface PresignPutOptions {
  contentType: string;
  size: number;
  /** Base64 SHA-256 of the body. */
  sha256: string;
  expiresInSeconds: number;
}

export interface PresignGetOptions {
  /** Served as this type whatever the bytes look like. */
  contentType: string;
  /** The name in `Content-Disposition: attachment`. */
  filename: string;
  expiresInSeconds: number;
}

export interface ObjectStorage {
  readonly kind: "s3" | "embedded";
  put(key: string, body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>, options: PutOptions): Promise<void>;
  /** Undefined when there is no such object. */
  get(key: string, range?: ByteRange): Promise<StoredObject | undefined>;
  head(key: string): Promise<ObjectHead | undefined>;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  list(prefix: string, options?: { cursor?: string; limit?: number }): Promise<ObjectListing>;
  presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut>;
  presignGet(key: string, options: PresignGetOptions): Promise<string>;
  /** Answers when the store can be reached (readiness). */
  ping(signal: AbortSignal): Promise<void>;
}

/** The store answered, but not as expected (a refused request); not counted against its breaker. */
export class StorageError extends Error {
  override name = "StorageError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Presigned URLs live at most this long: a leaked URL is worth five minutes. */
export const MAX_PRESIGN_SECONDS = 300;

/** `attachment; filename*=UTF-8''…` (RFC 6266 / 8187), with an ASCII fallback for old clients. */
export function attachmentDisposition(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%;]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** Path segments percent-encoded, the slashes kept. */
export function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}
