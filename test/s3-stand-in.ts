/**
 * A real S3-compatible server on loopback for the storage tests: s3rver (npm, run in-process under Bun). It checks
 * access keys and expiry but not SigV4 signatures or checksums, so those are tested on the URLs themselves.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error s3rver ships no types; its constructor, run() and close() are all this uses.
import S3rver from "s3rver";
import type { StorageConfig } from "../lib/config/config.ts";

/** s3rver's built-in credentials. */
export const S3_STAND_IN_KEYS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

export interface S3StandIn {
  readonly config: Extract<StorageConfig, { driver: "s3" }>;
  /** s3rver's notification for each object written, e.g. `ObjectCreated:Put` or `ObjectCreated:Post` (multipart). */
  readonly events: { eventName: string; key: string }[];
  stop(): Promise<void>;
}

export async function startS3StandIn(bucket = "rampart-test"): Promise<S3StandIn> {
  const directory = mkdtempSync(join(tmpdir(), "s3rver-"));
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const events: { eventName: string; key: string }[] = [];
  server.on("event", (event: { Records: { eventName: string; s3: { object: { key: string } } }[] }) => {
    for (const record of event.Records) events.push({ eventName: record.eventName, key: record.s3.object.key });
  });
  const { port } = (await server.run()) as { port: number };
  return {
    events,
    config: {
      driver: "s3",
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      bucket,
      ...S3_STAND_IN_KEYS,
      pathStyle: true,
      timeoutMs: 10_000,
    },
    async stop() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
