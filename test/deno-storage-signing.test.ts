/**
 * Presigned URLs made under Deno equal Bun's for the same inputs: the storage code bundled with the Deno Deploy
 * bundle's options and run by real Deno (the npm distribution), against the same code run here.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EMBEDDED_DATABASE_PACKAGES } from "../tools/bundle-options.ts";
import { denoExecutable } from "./deno-bundle.ts";
import { storageSignatures } from "./fixtures/storage-signatures.ts";

// Bundling and a first Deno start take seconds on a loaded machine.
const TEST_TIMEOUT_MS = 60_000;

test(
  "the Deno build signs S3 and embedded-storage URLs exactly as Bun does",
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "rampart-deno-signing-"));
    try {
      const built = await Bun.build({
        entrypoints: [join(import.meta.dir, "fixtures", "storage-signatures.ts")],
        outdir: dir,
        target: "node",
        format: "esm",
        minify: true,
        external: EMBEDDED_DATABASE_PACKAGES,
        naming: "main.js",
      });
      expect(built.success).toBe(true);
      const deno = Bun.spawn([await denoExecutable(), "run", join(dir, "main.js")], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [output, errors] = await Promise.all([new Response(deno.stdout).text(), new Response(deno.stderr).text()]);
      expect({ exit: await deno.exited, errors }).toEqual({ exit: 0, errors: "" });
      const underDeno = JSON.parse(output) as Record<string, string>;
      expect(underDeno).toEqual(await storageSignatures());
      expect(new URL(underDeno.put ?? "").searchParams.get("X-Amz-SignedHeaders")).toBe(
        "content-length;content-type;host;x-amz-checksum-sha256",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TEST_TIMEOUT_MS,
);
