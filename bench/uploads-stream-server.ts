/**
 * A process that serves only the embedded storage's signed URLs, for bench/uploads.ts to measure its peak RSS
 * while a large upload streams through. Prints the signed PUT for the size in argv, then `peak <VmHWM kB>` on
 * each line it reads from stdin. With `buffered` in argv it reads each body whole first: the peer it is set beside.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedStorage } from "../lib/storage/embedded-storage.ts";
import { createEmbeddedStorageHandler, createEmbeddedUrlSigner } from "../lib/storage/embedded-url.ts";

const size = Number(process.argv[2]);
const sha256 = process.argv[3] ?? "";
const buffered = process.argv[4] === "buffered";
const dir = mkdtempSync(join(tmpdir(), "bench-uploads-"));
let handle: (request: Request) => Promise<Response> = async () => new Response(null, { status: 503 });
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  maxRequestBodySize: 64 * 1024 * 1024,
  fetch: (r) => handle(r),
});
const storage = new EmbeddedStorage({
  dir,
  publicUrl: `http://127.0.0.1:${server.port}`,
  signer: await createEmbeddedUrlSigner(new Uint8Array(32).fill(3)),
  now: Date.now,
});
const streaming = createEmbeddedStorageHandler(storage);
handle = buffered
  ? async (request) => {
      const body = new Uint8Array(await request.arrayBuffer());
      return streaming(new Request(request.url, { method: "PUT", headers: request.headers, body }));
    }
  : streaming;
const put = await storage.presignPut("orgs/bench/large", {
  contentType: "application/pdf",
  size,
  sha256,
  expiresInSeconds: 300,
});
console.log(JSON.stringify(put));
const peakKb = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
for await (const _line of console) {
  if (_line === "stop") break;
  console.log(`peak ${peakKb()}`);
}
await server.stop(true);
rmSync(dir, { recursive: true, force: true });
