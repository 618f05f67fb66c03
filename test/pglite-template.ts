/**
 * The migrated PGlite cluster every in-memory test database is a copy of. initdb in WASM takes seconds,
 * past bun test's 5 s hook timeout on a cold machine; loading a dump takes about a quarter of that. The
 * dump is kept under node_modules/.cache, named by the PGlite version and the migrations, so it is made
 * once per machine and change of schema, by the preload, before any test's clock starts. A spawned server
 * opens a copy of it as its PGLITE_DATA_DIR (pgliteDataDirFromTemplate), so no process pays initdb.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIGRATIONS_FOLDER } from "../lib/db/database.ts";
import { openPglite } from "../lib/db/pglite.ts";

const ROOT = join(import.meta.dir, "..");
const CACHE_DIR = join(ROOT, "node_modules", ".cache", "rampart");

let knownTemplatePath: string | undefined;

function templatePath(): string {
  knownTemplatePath ??= hashedTemplatePath();
  return knownTemplatePath;
}

function hashedTemplatePath(): string {
  const hash = createHash("sha256");
  hash.update(readFileSync(join(ROOT, "node_modules", "@electric-sql", "pglite", "package.json")));
  for (const file of readdirSync(MIGRATIONS_FOLDER, { recursive: true, encoding: "utf8" }).sort()) {
    const path = join(MIGRATIONS_FOLDER, file);
    if (file.endsWith(".sql") || file.endsWith(".json")) hash.update(file).update(readFileSync(path));
  }
  return join(CACHE_DIR, `pglite-${hash.digest("hex").slice(0, 16)}.tar`);
}

async function makeTemplate(path: string): Promise<Blob> {
  const db = await openPglite(undefined);
  await db.migrate();
  const dump = await db.dump();
  await db.close();
  mkdirSync(CACHE_DIR, { recursive: true });
  const partial = `${path}.${process.pid}`;
  writeFileSync(partial, new Uint8Array(await dump.arrayBuffer()));
  renameSync(partial, path);
  return dump;
}

let template: Promise<Blob> | undefined;

export function pgliteTemplate(): Promise<Blob> {
  template ??= (async () => {
    const path = templatePath();
    return existsSync(path) ? new Blob([readFileSync(path)]) : makeTemplate(path);
  })();
  return template;
}

/**
 * A new directory holding a copy of the template, for a server process to open as its PGLITE_DATA_DIR:
 * unpacking the dump takes a fraction of a second where initdb takes 17 to 38 s on a loaded 2-core machine.
 * The caller removes it.
 */
export async function pgliteDataDirFromTemplate(): Promise<string> {
  await pgliteTemplate();
  const dir = mkdtempSync(join(tmpdir(), "rampart-pglite-"));
  const unpack = Bun.spawnSync(["tar", "-xf", templatePath(), "-C", dir], { stdout: "ignore", stderr: "pipe" });
  if (unpack.exitCode !== 0) throw new Error(`unpacking the PGlite template failed: ${unpack.stderr.toString()}`);
  return dir;
}
