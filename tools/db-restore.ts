/**
 * `bun run db:restore <file>`: restores a db:backup archive into DATABASE_URL's database, which must be empty (create
 * a new one; never restore over live data). The archive must match the checksum file db:backup wrote beside it.
 */
import { existsSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { databaseUrlFromEnv, runCommand } from "./backup-command.ts";
import { sha256Of } from "./db-backup.ts";
import { BackupError, checkedClient, connectionFor, describeTarget, runClient } from "./pg-client.ts";

/** Throws unless `file` and its `.sha256` exist and agree. */
export async function verifyChecksum(file: string): Promise<void> {
  if (!existsSync(file)) throw new BackupError(`no backup at ${file}`);
  const checksumFile = `${file}.sha256`;
  if (!existsSync(checksumFile))
    throw new BackupError(`no checksum file ${checksumFile} beside the backup: refusing an unverified restore`);
  const [expected = "", name] = (await Bun.file(checksumFile).text()).trim().split(/\s+/);
  if (name !== undefined && name !== basename(file))
    throw new BackupError(`${checksumFile} is the checksum of ${name}, not of ${basename(file)}`);
  const actual = await sha256Of(file);
  if (actual !== expected.toLowerCase())
    throw new BackupError(
      `${file} does not match its checksum (sha256 ${actual}, expected ${expected}): corrupt or altered`,
    );
}

async function assertEmpty(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ tables: number }[]>`
      select count(*)::int as tables from information_schema.tables
      where table_schema not in ('pg_catalog', 'information_schema')`;
    if ((row?.tables ?? 0) > 0)
      throw new BackupError(
        `${describeTarget(url)} already holds ${row?.tables} tables: restore into a new, empty database ` +
          "(createdb, or a new Neon branch) and point DATABASE_URL at it",
      );
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Restores `file` into the empty database at `url` with `jobs` parallel workers; returns the time it took. */
export async function restoreDatabase(file: string, url: string, jobs = 2): Promise<{ durationMs: number }> {
  const started = performance.now();
  await verifyChecksum(file);
  const pgRestore = await checkedClient("pg_restore", url);
  await assertEmpty(url);
  const connection = connectionFor(url);
  await runClient(
    [
      pgRestore.path,
      "--exit-on-error",
      "--no-owner",
      "--no-privileges",
      `--jobs=${jobs}`,
      "--dbname",
      connection.url,
      file,
    ],
    connection.env,
  );
  return { durationMs: performance.now() - started };
}

if (import.meta.main)
  await runCommand(async () => {
    const { positionals, values } = parseArgs({
      options: { jobs: { type: "string", default: "2" } },
      allowPositionals: true,
    });
    const [file] = positionals;
    if (file === undefined || positionals.length > 1)
      throw new BackupError("usage: bun run db:restore <backup file> (into the empty database at DATABASE_URL)");
    const jobs = Number(values.jobs);
    if (!Number.isInteger(jobs) || jobs < 1) throw new BackupError("--jobs must be a positive integer, e.g. --jobs=4");
    const url = databaseUrlFromEnv("db:restore");
    const { durationMs } = await restoreDatabase(file, url, jobs);
    console.log(
      `restored ${file} into ${describeTarget(url)} in ${Math.round(durationMs)} ms; now run bun run db:migrate`,
    );
  });
