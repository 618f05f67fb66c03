/**
 * Picks the object storage the configuration names. The S3 client sits behind its own breaker and per-call
 * deadline, like the database and Redis; the embedded one needs neither (a local folder).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StorageConfig } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import { createBreaker } from "../resilience/breaker.ts";
import type { ObjectStorage } from "./object-storage.ts";

export interface StorageParts {
  logger: Logger;
  /** The newest encryption key: the embedded storage's URL-signing key is derived from it. */
  secret: Uint8Array;
  now: () => number;
}

/** Undefined when no storage is configured (production without a bucket). */
export async function openStorage(config: StorageConfig, parts: StorageParts): Promise<ObjectStorage | undefined> {
  if (config.driver === "none") return undefined;
  if (config.driver === "s3") {
    const { S3Storage } = await import("./s3-storage.ts");
    return new S3Storage(config, createBreaker("storage", parts.logger));
  }
  const [{ EmbeddedStorage }, { createEmbeddedUrlSigner }] = await Promise.all([
    import("./embedded-storage.ts"),
    import("./embedded-url.ts"),
  ]);
  // Tests get a folder of their own that nothing else writes to.
  const dir = config.dir ?? (await mkdtemp(join(tmpdir(), "rampart-storage-")));
  return new EmbeddedStorage({
    dir,
    publicUrl: config.publicUrl,
    signer: await createEmbeddedUrlSigner(parts.secret),
    now: parts.now,
  });
}
