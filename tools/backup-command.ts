/** What db:backup and db:restore share as commands: the database URL from the environment and one way to fail. */
import { ConfigError, loadConfig } from "../lib/config/config.ts";
import { BackupError } from "./pg-client.ts";

/** DATABASE_URL, validated like the app's; the embedded PGlite database has none to dump. */
export function databaseUrlFromEnv(command: string): string {
  const { database } = loadConfig(process.env);
  if (database.driver === "pglite")
    throw new BackupError(
      `${command} needs DATABASE_URL (a PostgreSQL server). The embedded PGlite database is backed up by copying ` +
        "its folder (PGLITE_DATA_DIR, .data/pglite) while bun dev is stopped",
    );
  // Neon's pooled endpoint runs PgBouncer in transaction mode, under which pg_dump and pg_restore fail.
  if (new URL(database.url).hostname.includes("-pooler."))
    throw new BackupError(`${command} needs the direct endpoint: remove "-pooler" from the DATABASE_URL host`);
  return database.url;
}

/** Runs a command's body: a known failure prints its message and exits 1, never a stack or a URL's password. */
export async function runCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (!(error instanceof BackupError || error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}
