/** One suite over both implementations: s3rver on loopback (a real S3-compatible server) and the embedded default. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startS3StandIn } from "../../test/s3-stand-in.ts";
import { createLogger } from "../log/logger.ts";
import { createBreaker } from "../resilience/breaker.ts";
import { EmbeddedStorage } from "./embedded-storage.ts";
import { createEmbeddedStorageHandler, createEmbeddedUrlSigner } from "./embedded-url.ts";
import type { ObjectListing, ObjectStorage } from "./object-storage.ts";
import { MULTIPART_PART_BYTES, S3Storage } from "./s3-storage.ts";

const HOOK_TIMEOUT_MS = 30_000;
const quiet = createLogger({ sink: () => {} });
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("base64");
const bytesOf = (text: string) => new TextEncoder().encode(text);

interface Subject {
  storage: ObjectStorage;
  /** How the store reported writing `key` (s3rver's notifications), where it reports it. */
  writesOf?: (key: string) => string[];
  stop(): Promise<void>;
}

async function openS3(): Promise<Subject> {
  const standIn = await startS3StandIn();
  const storage = new S3Storage(standIn.config, createBreaker("storage", quiet));
  const writesOf = (key: string) => standIn.events.filter((e) => e.key === key).map((e) => e.eventName);
  return { storage, writesOf, stop: standIn.stop };
}

async function openEmbedded(): Promise<Subject> {
  const dir = mkdtempSync(join(tmpdir(), "embedded-storage-"));
  const signer = await createEmbeddedUrlSigner(new Uint8Array(32).fill(7));
  let handle: (request: Request) => Promise<Response> = async () => new Response(null, { status: 503 });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (request) => handle(request) });
  const storage = new EmbeddedStorage({ dir, publicUrl: `http://127.0.0.1:${server.port}`, signer, now: Date.now });
  handle = createEmbeddedStorageHandler(storage);
  return {
    storage,
    async stop() {
      await server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `total` bytes of a repeating pattern, in uneven chunks, never held whole. */
function patternStream(total: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      const size = Math.min(777_777, total - sent);
      if (size === 0) return controller.close();
      controller.enqueue(Uint8Array.from({ length: size }, (_, i) => (sent + i) % 251));
      sent += size;
    },
  });
}

describe.each([
  ["s3rver", openS3],
  ["embedded", openEmbedded],
] as const)("object storage on %s", (_name, open) => {
  let subject: Subject;
  beforeAll(async () => {
    subject = await open();
  }, HOOK_TIMEOUT_MS);
  afterAll(() => subject.stop(), HOOK_TIMEOUT_MS);

  test("put then get answers the bytes, the type and the size", async () => {
    const body = bytesOf("hello, storage");
    await subject.storage.put("orgs/a/hello", body, { contentType: "text/plain", sha256: sha256(body) });
    const object = await subject.storage.get("orgs/a/hello");
    expect(object?.contentType).toBe("text/plain");
    expect(object?.size).toBe(body.length);
    expect(await new Response(object?.body).text()).toBe("hello, storage");
  });

  test("a range get answers only those bytes", async () => {
    await subject.storage.put("orgs/a/range", bytesOf("0123456789"), { contentType: "text/plain" });
    const object = await subject.storage.get("orgs/a/range", { start: 2, end: 5 });
    expect(await new Response(object?.body).text()).toBe("2345");
  });

  test("head and get of a missing object answer undefined", async () => {
    expect(await subject.storage.head("orgs/a/missing")).toBeUndefined();
    expect(await subject.storage.get("orgs/a/missing")).toBeUndefined();
  });

  test("list pages through the keys under a prefix", async () => {
    for (const name of ["1", "2", "3"])
      await subject.storage.put(`orgs/list/${name}`, bytesOf(name), { contentType: "text/plain" });
    await subject.storage.put("orgs/other/1", bytesOf("x"), { contentType: "text/plain" });
    const keysOf = (listing: ObjectListing) => listing.objects.map((o) => o.key).sort();
    const all = await subject.storage.list("orgs/list/");
    expect(keysOf(all)).toEqual(["orgs/list/1", "orgs/list/2", "orgs/list/3"]);
    expect(all.objects[0]?.size).toBe(1);
    expect(all.cursor).toBeUndefined();
    const page = await subject.storage.list("orgs/list/", { limit: 2 });
    expect(page.objects).toHaveLength(2);
    expect(page.cursor).toBeDefined();
    // The cursor is the last key seen (S3 pages in key order; s3rver in the order its files come off disk).
    expect(keysOf(await subject.storage.list("orgs/list/", { cursor: "orgs/list/1" }))).toEqual([
      "orgs/list/2",
      "orgs/list/3",
    ]);
  });

  test("delete removes the object, and deleting it again is no error", async () => {
    await subject.storage.put("orgs/a/gone", bytesOf("x"), { contentType: "text/plain" });
    await subject.storage.delete("orgs/a/gone");
    await subject.storage.delete("orgs/a/gone");
    expect(await subject.storage.head("orgs/a/gone")).toBeUndefined();
  });

  test(
    "a 12.5 MiB stream is stored whole (in parts on S3) and reads back byte for byte",
    async () => {
      const total = Math.floor(12.5 * 1024 * 1024);
      expect(total).toBeGreaterThan(2 * MULTIPART_PART_BYTES);
      await subject.storage.put("orgs/a/large", patternStream(total), { contentType: "application/pdf" });
      const expected = createHash("sha256");
      const reader = patternStream(total).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) expected.update(r.value);
      const object = await subject.storage.get("orgs/a/large");
      const actual = createHash("sha256").update(new Uint8Array(await new Response(object?.body).arrayBuffer()));
      expect(object?.size).toBe(total);
      expect(actual.digest("hex")).toBe(expected.digest("hex"));
      // A multipart upload completes with a POST; a single PUT would be ObjectCreated:Put.
      if (subject.writesOf !== undefined) expect(subject.writesOf("orgs/a/large")).toEqual(["ObjectCreated:Post"]);
    },
    HOOK_TIMEOUT_MS,
  );

  test("a presigned PUT stores the body; a presigned GET answers it as an attachment of the forced type", async () => {
    const body = bytesOf("GIF89a presigned");
    const put = await subject.storage.presignPut("orgs/a/presigned", {
      contentType: "image/gif",
      size: body.length,
      sha256: sha256(body),
      expiresInSeconds: 300,
    });
    const uploaded = await fetch(put.url, { method: "PUT", headers: put.headers, body });
    expect(uploaded.status).toBe(200);
    const url = await subject.storage.presignGet("orgs/a/presigned", {
      contentType: "image/gif",
      filename: "cat picture.gif",
      expiresInSeconds: 300,
    });
    const downloaded = await fetch(url);
    expect(downloaded.status).toBe(200);
    expect(downloaded.headers.get("content-type")).toBe("image/gif");
    expect(downloaded.headers.get("content-disposition")).toStartWith("attachment;");
    expect(await downloaded.text()).toBe("GIF89a presigned");
  });
});
