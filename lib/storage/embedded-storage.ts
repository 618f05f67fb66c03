/**
 * The embedded default for `bun dev`: objects as files under `.data/storage/objects`, their type and checksum
 * beside them under `meta/`. Clients reach it through HMAC-signed, expiring URLs that embedded-url.ts checks and
 * serves on its own origin, as they would reach S3 through presigned ones.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { Readable } from "node:stream";
import { type EmbeddedUrlSigner, signedUrlFields } from "./embedded-url.ts";
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

export interface EmbeddedStorageOptions {
  dir: string;
  /** The origin its signed URLs point at: the dev server's storage listener, never the API's own origin. */
  publicUrl: string;
  signer: EmbeddedUrlSigner;
  /** Epoch milliseconds; tests move it instead of sleeping. */
  now: () => number;
}

// Keys are ours (`orgs/<id>/<hex>`), but a key must never name a file outside the folder.
const SAFE_KEY = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

interface Meta {
  contentType: string;
  sha256: string;
}

export class EmbeddedStorage implements ObjectStorage {
  readonly kind = "embedded";
  constructor(readonly options: EmbeddedStorageOptions) {}

  #paths(key: string): { object: string; meta: string } {
    if (!SAFE_KEY.test(key)) throw new StorageError("invalid object key", 400);
    return { object: join(this.options.dir, "objects", key), meta: join(this.options.dir, "meta", `${key}.json`) };
  }

  /**
   * Streams `body` to a temporary file, hashing as it goes, and moves it into place only when the length and
   * digest match what was expected: a refused body never replaces a stored object.
   */
  async write(key: string, body: ReadableStream<Uint8Array>, expected: { size?: number } & PutOptions) {
    const paths = this.#paths(key);
    const temporary = `${paths.object}.${crypto.randomUUID()}.partial`;
    await mkdir(dirname(paths.object), { recursive: true });
    const file = await open(temporary, "w");
    const hash = createHash("sha256");
    let size = 0;
    try {
      const reader = body.getReader();
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        const chunk = read.value;
        hash.update(chunk);
        size += chunk.length;
        if (expected.size !== undefined && size > expected.size)
          throw new StorageError("body longer than declared", 400);
        await file.write(chunk);
      }
    } catch (error) {
      await file.close();
      await rm(temporary, { force: true });
      throw error;
    }
    await file.close();
    const sha256 = hash.digest("base64");
    const problem =
      expected.size !== undefined && size !== expected.size
        ? "body length differs from the declared one"
        : expected.sha256 !== undefined && sha256 !== expected.sha256
          ? "body digest differs from x-amz-checksum-sha256"
          : undefined;
    if (problem !== undefined) {
      await rm(temporary, { force: true });
      throw new StorageError(problem, 400);
    }
    await mkdir(dirname(paths.meta), { recursive: true });
    await writeFile(paths.meta, JSON.stringify({ contentType: expected.contentType, sha256 } satisfies Meta));
    await rename(temporary, paths.object);
  }

  async put(
    key: string,
    body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>,
    options: PutOptions,
  ): Promise<void> {
    await this.write(key, body instanceof Uint8Array ? new Blob([body]).stream() : body, options);
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    const paths = this.#paths(key);
    const [info, meta] = await Promise.all([
      stat(paths.object).catch(() => undefined),
      readFile(paths.meta, "utf8").then(
        (text) => JSON.parse(text) as Meta,
        () => undefined,
      ),
    ]);
    if (info === undefined || meta === undefined) return undefined;
    return { size: info.size, contentType: meta.contentType, sha256: meta.sha256 };
  }

  async get(key: string, range?: ByteRange): Promise<StoredObject | undefined> {
    const head = await this.head(key);
    if (head === undefined) return undefined;
    if (range !== undefined && range.start >= head.size) throw new StorageError("range not satisfiable", 416);
    const stream = createReadStream(this.#paths(key).object, range);
    return { ...head, body: Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array> };
  }

  async delete(key: string): Promise<void> {
    const paths = this.#paths(key);
    await Promise.all([rm(paths.object, { force: true }), rm(paths.meta, { force: true })]);
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}): Promise<ObjectListing> {
    const root = join(this.options.dir, "objects");
    const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
    const keys = entries
      .filter((entry) => entry.isFile() && !entry.name.endsWith(".partial"))
      .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join("/"))
      .filter((key) => key.startsWith(prefix) && (options.cursor === undefined || key > options.cursor))
      .sort();
    const limit = options.limit ?? 1000;
    const page = keys.slice(0, limit);
    const objects = await Promise.all(
      page.map(async (key) => ({ key, size: (await stat(this.#paths(key).object)).size })),
    );
    return { objects, cursor: keys.length > limit ? page.at(-1) : undefined };
  }

  async presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut> {
    this.#paths(key);
    const headers = {
      "content-type": options.contentType,
      "content-length": String(options.size),
      "x-amz-checksum-sha256": options.sha256,
    };
    const expires = Math.floor(this.options.now() / 1000) + options.expiresInSeconds;
    const url = new URL(`${this.options.publicUrl}/${encodeKey(key)}`);
    const signature = await this.options.signer.sign(signedUrlFields("PUT", key, expires, headers));
    url.searchParams.set("expires", String(expires));
    url.searchParams.set("signature", signature);
    return { method: "PUT", url: url.toString(), headers, expiresAt: new Date(expires * 1000).toISOString() };
  }

  async presignGet(key: string, options: PresignGetOptions): Promise<string> {
    this.#paths(key);
    const expires = Math.floor(this.options.now() / 1000) + options.expiresInSeconds;
    const response = {
      "response-content-type": options.contentType,
      "response-content-disposition": attachmentDisposition(options.filename),
    };
    const url = new URL(`${this.options.publicUrl}/${encodeKey(key)}`);
    for (const [name, value] of Object.entries(response)) url.searchParams.set(name, value);
    url.searchParams.set("expires", String(expires));
    url.searchParams.set("signature", await this.options.signer.sign(signedUrlFields("GET", key, expires, response)));
    return url.toString();
  }

  async ping(): Promise<void> {
    await mkdir(join(this.options.dir, "objects"), { recursive: true });
  }
}
