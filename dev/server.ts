/**
 * `bun dev`: every route group from functions/ in one process, hot reloaded, with the scheduled jobs
 * running in-process. The served app lives on globalThis so a hot reload keeps the database open.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { assertSigningKeyUsable } from "../lib/auth/signing-key-check.ts";
import { type Config, ConfigError, loadConfig } from "../lib/config/config.ts";
import { SCHEDULED_JOBS } from "../lib/cron/registry.ts";
import { openRuntime } from "../lib/runtime/runtime.ts";
import { type ServedApp, serveApp } from "../lib/server/serve-app.ts";
import { storageFor } from "../lib/storage/runtime-storage.ts";
import { loadRouteGroups } from "../tools/route-groups.ts";

const holder = globalThis as typeof globalThis & { rampartDev?: ServedApp };

function describeDatabase(config: Config): string {
  const database = config.database;
  if (database.driver === "pglite") return `PGlite (embedded, ${database.dataDir ?? "in memory"})`;
  const driver = database.driver === "neon" ? "Neon serverless driver" : "PostgreSQL over TCP";
  return `${driver}${database.readUrl === undefined ? "" : " with a read replica"}`;
}

// A configuration error is the operator's to fix: its message alone, no stack, and a failed start.
function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

// initdb in WASM takes up to a minute: without a word the first start looks hung. PG_VERSION is its first file.
function announceDatabaseCreation(config: Config): void {
  const { database } = config;
  if (
    database.driver !== "pglite" ||
    database.dataDir === undefined ||
    existsSync(join(database.dataDir, "PG_VERSION"))
  )
    return;
  console.log(`creating the embedded database in ${database.dataDir} (first start, up to a minute)…`);
}

function configOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (error) {
    return exitOnConfigError(error);
  }
}

/**
 * The embedded storage's signed URLs, on their own origin (STORAGE_EMBEDDED_URL): uploaded files are never served
 * from the API's.
 */
async function serveEmbeddedStorage(runtime: ServedApp["runtime"]): Promise<string | undefined> {
  const { storage: config } = runtime.config;
  if (config.driver !== "embedded") return undefined;
  const [{ createEmbeddedStorageHandler }, { EmbeddedStorage }, storage] = await Promise.all([
    import("../lib/storage/embedded-url.ts"),
    import("../lib/storage/embedded-storage.ts"),
    storageFor(runtime),
  ]);
  if (!(storage instanceof EmbeddedStorage)) return undefined;
  const url = new URL(config.publicUrl);
  Bun.serve({ hostname: url.hostname, port: Number(url.port || 80), fetch: createEmbeddedStorageHandler(storage) });
  return `files under ${storage.options.dir}, signed URLs on ${config.publicUrl}`;
}

async function start(): Promise<void> {
  const started = performance.now();
  const config = configOrExit();
  announceDatabaseCreation(config);
  const runtime = await openRuntime(config);
  if (config.env !== "production") {
    console.log("applying migrations…");
    await runtime.db.migrate();
  }
  // Production refuses a signing key ENCRYPTION_KEYS cannot decrypt here, rather than failing every sign-up.
  else await assertSigningKeyUsable(runtime).catch(exitOnConfigError);
  const served = serveApp(runtime, await loadRouteGroups(), SCHEDULED_JOBS);
  holder.rampartDev = served;
  console.log(`Rampart listening on ${served.server.url.href.replace(/\/$/, "")}`);
  console.log(`  database: ${describeDatabase(config)}`);
  console.log(
    `  store:    ${config.store.driver === "memory" ? "in-process store" : "Upstash Redis, in-process fallback"}`,
  );
  const storage = await serveEmbeddedStorage(runtime);
  console.log(`  storage:  ${storage ?? (config.storage.driver === "s3" ? "S3-compatible bucket" : "none")}`);
  console.log(`  ready in ${Math.round(performance.now() - started)} ms`);
}

if (holder.rampartDev === undefined) await start();
else {
  holder.rampartDev.replaceRoutes(await loadRouteGroups());
  holder.rampartDev.runtime.logger.info("reloaded");
}
