/** `bun run db:migrate`: applies the committed migrations to the configured database, then exits. */
import { ConfigError, type DatabaseConfig, loadConfig } from "../lib/config/config.ts";
import { openDatabase } from "../lib/db/open-database.ts";
import { createLogger } from "../lib/log/logger.ts";

// The Neon driver, chosen by DATABASE_URL alone, speaks WebSocket to Neon's proxy: plain PostgreSQL never answers it.
const NEON_DRIVER_HINT =
  "DATABASE_URL alone selects the Neon serverless driver, which connects over a WebSocket. For plain PostgreSQL, " +
  "set DATABASE_DRIVER=postgres (TCP), or NEON_WS_PROXY to the host:port of a WebSocket-to-TCP proxy (bun run " +
  "gateway:neon).";

function failureMessage(error: unknown, database: DatabaseConfig | undefined): string {
  if (error instanceof ConfigError) return error.message;
  // A failed drizzle query's message is the SQL and its parameters; what went wrong is in its cause.
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0];
  const cause =
    error instanceof Error && error.cause instanceof Object && "message" in error.cause
      ? `\n  ${String(error.cause.message)}`
      : "";
  const hint = database?.driver === "neon" && database.wsProxy === undefined ? `\n${NEON_DRIVER_HINT}` : "";
  return `Migration failed: ${message}${cause}${hint}`;
}

let database: DatabaseConfig | undefined;
try {
  const config = loadConfig(process.env);
  database = config.database;
  const logger = createLogger({ level: config.logLevel });
  const db = await openDatabase(config.database, logger);
  const started = performance.now();
  await db.migrate();
  await db.close();
  logger.info("migrations applied", {
    driver: config.database.driver,
    durationMs: Math.round(performance.now() - started),
  });
} catch (error) {
  console.error(failureMessage(error, database));
  process.exit(1);
}
