/**
 * The upload flow through the HTTP app, against a real S3-compatible server (s3rver on loopback) and the embedded
 * default, with real byte samples. s3rver checks no signature or checksum, so the refusals here are the API's own.
 */

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { expireUploads } from "../lib/cron/jobs/expire-uploads.ts";
import { orgStorage, uploads } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import type { EmbeddedStorage } from "../lib/storage/embedded-storage.ts";
import { createEmbeddedStorageHandler } from "../lib/storage/embedded-url.ts";
import type { ObjectStorage } from "../lib/storage/object-storage.ts";
import { storageFor } from "../lib/storage/runtime-storage.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { ADMIN_TOKEN, type IdentityClient, identityClient, type TestUser } from "../test/identity-client.ts";
import { type S3StandIn, startS3StandIn } from "../test/s3-stand-in.ts";
import { createTestClock } from "../test/test-clock.ts";
import { orgRoutes } from "./orgs.ts";
import { uploadRoutes } from "./uploads.ts";

const TEST_TIMEOUT_MS = 30_000;

/** Real files, as a browser would send them. */
export const SAMPLES = {
  png: Buffer.from(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    "base64",
  ),
  pdf: Buffer.from("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"),
  svg: Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
  html: Buffer.from("<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"),
  xml: Buffer.from('<?xml version="1.0"?><note><to>x</to></note>'),
  unknown: Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) % 256)),
  // A GIF header, then HTML: sniffs as image/gif, and would run as a page if served inline as text/html.
  polyglot: Buffer.from("GIF89a/*<html><body><script>alert(document.cookie)</script></body></html>*/"),
};

const sha256Of = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("base64");
const declare = (bytes: Uint8Array, contentType: string, filename = "file.bin") => ({
  filename,
  contentType,
  size: bytes.length,
  sha256: sha256Of(bytes),
});

interface Reserved {
  upload: { id: string; status: string };
  put: { url: string; headers: Record<string, string> };
}

async function openS3(): Promise<{ env: Record<string, string>; stop(): Promise<void>; serve?: undefined }> {
  const standIn: S3StandIn = await startS3StandIn();
  const { config } = standIn;
  return {
    env: {
      S3_ENDPOINT: config.endpoint,
      S3_REGION: config.region,
      S3_BUCKET: config.bucket,
      S3_ACCESS_KEY_ID: config.accessKeyId,
      S3_SECRET_ACCESS_KEY: config.secretAccessKey,
    },
    stop: standIn.stop,
  };
}

async function openEmbedded() {
  const dir = mkdtempSync(join(tmpdir(), "uploads-embedded-"));
  let handle = async (_: Request) => new Response(null, { status: 503 });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => handle(request) });
  return {
    env: { STORAGE_DIR: dir, STORAGE_EMBEDDED_URL: `http://127.0.0.1:${server.port}` },
    serve(storage: ObjectStorage) {
      handle = createEmbeddedStorageHandler(storage as EmbeddedStorage);
    },
    async stop() {
      await server.stop(true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.each([
  ["s3rver", openS3],
  ["embedded", openEmbedded],
] as const)("uploads on %s", (_name, openStore) => {
  const clock = createTestClock();
  let store: Awaited<ReturnType<typeof openEmbedded>> | Awaited<ReturnType<typeof openS3>>;
  let runtime: TestRuntime;
  let app: RampartApp;
  let client: IdentityClient;
  let storage: ObjectStorage;

  beforeAll(async () => {
    store = await openStore();
    runtime = await openTestRuntime({ env: { TRUST_PROXY: "1", ADMIN_TOKEN, ...store.env }, now: clock.now });
    app = buildApp(runtime, [orgRoutes(), uploadRoutes()]);
    client = identityClient(runtime, app);
    storage = (await storageFor(runtime)) as ObjectStorage;
    store.serve?.(storage);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await runtime.close();
    await store.stop();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterEach(() => clock.reset());

  const newOrg = async (): Promise<{ owner: TestUser; orgId: string }> => {
    const owner = await client.createUser();
    return { owner, orgId: await client.createOrg(owner) };
  };
  const reserve = (owner: TestUser, orgId: string, body: unknown) =>
    client.call("POST", `/v1/orgs/${orgId}/uploads`, { token: owner.token, body });
  const complete = (owner: TestUser, orgId: string, id: string) =>
    client.call("POST", `/v1/orgs/${orgId}/uploads/${id}/complete`, { token: owner.token });
  const counters = async (orgId: string) => {
    const [row] = await runtime.db.primary.select().from(orgStorage).where(eq(orgStorage.orgId, orgId));
    return { used: row?.usedBytes, reserved: row?.reservedBytes };
  };
  const errorCode = async (response: Response, status: number) =>
    (await client.expectJson<{ error: { code: string } }>(response, status)).error.code;

  test(
    "reserve, PUT to the presigned URL, complete, download as an attachment, list and delete",
    async () => {
      const { owner, orgId } = await newOrg();
      const reserved = await client.expectJson<Reserved>(
        await reserve(owner, orgId, declare(SAMPLES.png, "image/png", "café.png")),
        201,
      );
      expect(new URL(reserved.put.url).pathname).toMatch(/\/orgs\/[0-9a-f-]{36}\/[0-9a-f]{64}$/);
      const put = await fetch(reserved.put.url, { method: "PUT", headers: reserved.put.headers, body: SAMPLES.png });
      expect(put.status).toBe(200);
      const done = await client.expectJson<{ status: string }>(await complete(owner, orgId, reserved.upload.id), 200);
      expect(done.status).toBe("ready");
      // Completing again changes nothing and answers the same.
      expect(await client.expectJson(await complete(owner, orgId, reserved.upload.id), 200)).toEqual(done);
      expect(await counters(orgId)).toEqual({ used: SAMPLES.png.length, reserved: 0 });

      const path = `/v1/orgs/${orgId}/uploads/${reserved.upload.id}`;
      const { url } = await client.expectJson<{ url: string }>(
        await client.call("GET", `${path}/download`, { token: owner.token }),
        200,
      );
      expect(new URL(url).origin).not.toBe("http://localhost");
      const downloaded = await fetch(url);
      expect(downloaded.headers.get("content-type")).toBe("image/png");
      expect(downloaded.headers.get("content-disposition")).toBe(
        `attachment; filename="caf_.png"; filename*=UTF-8''caf%C3%A9.png`,
      );
      expect(Buffer.from(await downloaded.arrayBuffer()).equals(SAMPLES.png)).toBe(true);

      const listed = await client.expectJson<{ uploads: { id: string }[] }>(
        await client.call("GET", `/v1/orgs/${orgId}/uploads`, { token: owner.token }),
        200,
      );
      expect(listed.uploads.map((u) => u.id)).toEqual([reserved.upload.id]);
      expect((await client.call("DELETE", path, { token: owner.token })).status).toBe(204);
      expect(await storage.head(`orgs/${orgId}/${hex(SAMPLES.png)}`)).toBeUndefined();
      expect(await counters(orgId)).toEqual({ used: 0, reserved: 0 });
    },
    TEST_TIMEOUT_MS,
  );

  test("the same content uploaded twice is stored once, and stays until its last upload is deleted", async () => {
    const { owner, orgId } = await newOrg();
    const ids: string[] = [];
    for (const filename of ["a.pdf", "b.pdf"]) {
      const reserved = await client.expectJson<Reserved>(
        await reserve(owner, orgId, declare(SAMPLES.pdf, "application/pdf", filename)),
        201,
      );
      await fetch(reserved.put.url, { method: "PUT", headers: reserved.put.headers, body: SAMPLES.pdf });
      await client.expectJson(await complete(owner, orgId, reserved.upload.id), 200);
      ids.push(reserved.upload.id);
    }
    expect((await storage.list(`orgs/${orgId}/`)).objects).toHaveLength(1);
    const key = `orgs/${orgId}/${hex(SAMPLES.pdf)}`;
    await client.call("DELETE", `/v1/orgs/${orgId}/uploads/${ids[0]}`, { token: owner.token });
    expect((await storage.head(key))?.size).toBe(SAMPLES.pdf.length);
    await client.call("DELETE", `/v1/orgs/${orgId}/uploads/${ids[1]}`, { token: owner.token });
    expect(await storage.head(key)).toBeUndefined();
  });

  test.each([
    ["image/svg+xml", SAMPLES.svg],
    ["text/html", SAMPLES.html],
    ["application/xhtml+xml", SAMPLES.html],
    ["text/xml", SAMPLES.xml],
    ["application/xml", SAMPLES.xml],
    ["image/png; charset=utf-8", SAMPLES.png],
    ["application/x-unknown", SAMPLES.unknown],
  ])("reserving %s is refused with UPLOAD_TYPE_NOT_ALLOWED, nothing reserved", async (type, bytes) => {
    const { owner, orgId } = await newOrg();
    expect(await errorCode(await reserve(owner, orgId, declare(bytes, type)), 415)).toBe("UPLOAD_TYPE_NOT_ALLOWED");
    expect((await counters(orgId)).reserved ?? 0).toBe(0);
  });

  test("a file over its type's limit is refused with UPLOAD_TOO_LARGE", async () => {
    const { owner, orgId } = await newOrg();
    const body = { ...declare(SAMPLES.png, "image/png"), size: 10 * 1024 * 1024 + 1 };
    expect(await errorCode(await reserve(owner, orgId, body), 413)).toBe("UPLOAD_TOO_LARGE");
  });

  // The declared file, then the bytes a client stored instead (through a store that does not check signatures).
  test.each([
    ["SVG declared as PNG", "image/png", SAMPLES.svg, SAMPLES.svg, "UPLOAD_TYPE_MISMATCH"],
    ["HTML declared as PNG", "image/png", SAMPLES.html, SAMPLES.html, "UPLOAD_TYPE_MISMATCH"],
    ["XML declared as GIF", "image/gif", SAMPLES.xml, SAMPLES.xml, "UPLOAD_TYPE_MISMATCH"],
    ["unknown bytes declared as PDF", "application/pdf", SAMPLES.unknown, SAMPLES.unknown, "UPLOAD_TYPE_MISMATCH"],
    ["a PNG declared as JPEG", "image/jpeg", SAMPLES.png, SAMPLES.png, "UPLOAD_TYPE_MISMATCH"],
    ["a longer body", "image/png", SAMPLES.png, Buffer.concat([SAMPLES.png, Buffer.from("x")]), "UPLOAD_SIZE_MISMATCH"],
    [
      "other bytes of the same length",
      "image/png",
      SAMPLES.png,
      Buffer.from(SAMPLES.png).fill(1, 40),
      "UPLOAD_DIGEST_MISMATCH",
    ],
  ] as const)(
    "%s: refused with its code, the object deleted, the quota released",
    async (_, type, declared, sent, code) => {
      const { owner, orgId } = await newOrg();
      const reserved = await client.expectJson<Reserved>(await reserve(owner, orgId, declare(declared, type)), 201);
      const key = `orgs/${orgId}/${hex(declared)}`;
      await storage.put(key, new Uint8Array(sent), { contentType: type });
      expect(await errorCode(await complete(owner, orgId, reserved.upload.id), 422)).toBe(code);
      expect(await storage.head(key)).toBeUndefined();
      expect(await counters(orgId)).toEqual({ used: 0, reserved: 0 });
      // Completing again answers the same refusal.
      expect(await errorCode(await complete(owner, orgId, reserved.upload.id), 422)).toBe(code);
    },
  );

  test("completing before the bytes arrived is UPLOAD_NOT_RECEIVED and keeps the reservation", async () => {
    const { owner, orgId } = await newOrg();
    const reserved = await client.expectJson<Reserved>(
      await reserve(owner, orgId, declare(SAMPLES.png, "image/png")),
      201,
    );
    expect(await errorCode(await complete(owner, orgId, reserved.upload.id), 409)).toBe("UPLOAD_NOT_RECEIVED");
    expect(await counters(orgId)).toEqual({ used: 0, reserved: SAMPLES.png.length });
  });

  test("a GIF/HTML polyglot sniffs as a GIF; it is downloaded only as an image/gif attachment", async () => {
    const { owner, orgId } = await newOrg();
    const reserved = await client.expectJson<Reserved>(
      await reserve(owner, orgId, declare(SAMPLES.polyglot, "image/gif", "x.html")),
      201,
    );
    await fetch(reserved.put.url, { method: "PUT", headers: reserved.put.headers, body: SAMPLES.polyglot });
    await client.expectJson(await complete(owner, orgId, reserved.upload.id), 200);
    const { url } = await client.expectJson<{ url: string }>(
      await client.call("GET", `/v1/orgs/${orgId}/uploads/${reserved.upload.id}/download`, { token: owner.token }),
      200,
    );
    const downloaded = await fetch(url);
    expect(downloaded.headers.get("content-type")).toBe("image/gif");
    expect(downloaded.headers.get("content-disposition")).toStartWith("attachment;");
    expect(new URL(url).searchParams.get("response-content-type")).toBe("image/gif");
  });

  test("a small file through the API gets the same checks", async () => {
    const { owner, orgId } = await newOrg();
    const direct = (bytes: Buffer, type: string) =>
      app.fetch(
        new Request(`http://localhost/v1/orgs/${orgId}/uploads/direct?filename=logo.png`, {
          method: "POST",
          headers: { authorization: `Bearer ${owner.token}`, "content-type": type, "x-forwarded-for": "10.9.9.9" },
          body: new Uint8Array(bytes),
        }),
      );
    expect((await client.expectJson<{ status: string }>(await direct(SAMPLES.png, "image/png"), 201)).status).toBe(
      "ready",
    );
    expect(await errorCode(await direct(SAMPLES.html, "image/png"), 422)).toBe("UPLOAD_TYPE_MISMATCH");
    expect((await direct(SAMPLES.html, "text/html")).status).toBe(415);
    expect(await counters(orgId)).toEqual({ used: SAMPLES.png.length, reserved: 0 });
  });

  test("expire-uploads releases the quota of reservations never completed", async () => {
    const { owner, orgId } = await newOrg();
    const reserved = await client.expectJson<Reserved>(
      await reserve(owner, orgId, declare(SAMPLES.png, "image/png")),
      201,
    );
    clock.advance(3_600_001);
    expect(await expireUploads.run(runtime, new AbortController().signal)).toContain("released");
    const [row] = await runtime.db.primary.select().from(uploads).where(eq(uploads.id, reserved.upload.id));
    expect(row?.status).toBe("expired");
    expect(await counters(orgId)).toEqual({ used: 0, reserved: 0 });
  });
});

function hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
