/**
 * `bun run db:backup [--out <file>]`: a pg_dump custom-format archive of DATABASE_URL's database, with a SHA-256
 * checksum file beside it (`<file>.sha256`, the `sha256sum -c` format). Run it against the direct endpoint, not a
 * pooler: pg_dump needs a session of its own.
 */
import { mkdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { databaseUrlFromEnv, runCommand } from "./backup-command.ts";
import { BackupError, checkedClient, connectionFor, describeTarget, runClient } from "./pg-client.ts";

export interface BackupResult {
  file: string;
  checksumFile: string;
  sha256: string;
  bytes: number;
  durationMs: number;
}

/** The hex SHA-256 of a file, read as a stream. */
export async function sha256Of(file: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  const reader = Bun.file(file).stream().getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) hasher.update(read.value);
  return hasher.digest("hex");
}

const stamp = () =>
  new Date()
    .toISOString()
    .replaceAll(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");

/** Dumps the database at `url` to `out` (default `backups/<database>-<UTC time>.dump`) and writes its checksum. */
export async function backupDatabase(url: string, out?: string): Promise<BackupResult> {
  const started = performance.now();
  const pgDump = await checkedClient("pg_dump", url);
  const file = out ?? join("backups", `${new URL(url).pathname.slice(1) || "postgres"}-${stamp()}.dump`);
  mkdirSync(dirname(file), { recursive: true });
  const connection = connectionFor(url);
  // -Fc: compressed, restorable in parallel and selectively; no owners or grants, which differ between servers.
  await runClient(
    [pgDump.path, "--format=custom", "--compress=6", "--no-owner", "--no-privileges", "--file", file, connection.url],
    connection.env,
  );
  const sha256 = await sha256Of(file);
  const checksumFile = `${file}.sha256`;
  await Bun.write(checksumFile, `${sha256}  ${basename(file)}\n`);
  return { file, checksumFile, sha256, bytes: statSync(file).size, durationMs: performance.now() - started };
}

if (import.meta.main)
  await runCommand(async () => {
    const { values } = parseArgs({ options: { out: { type: "string" } } });
    const url = databaseUrlFromEnv("db:backup");
    const result = await backupDatabase(url, values.out);
    if (result.bytes === 0) throw new BackupError(`pg_dump wrote an empty file for ${describeTarget(url)}`);
    console.log(
      `backed up ${describeTarget(url)} to ${result.file} (${result.bytes} bytes, ` +
        `${Math.round(result.durationMs)} ms), sha256 ${result.sha256} in ${result.checksumFile}`,
    );
  });
