/** `bun run db:migrate`: applies the committed migrations to the configured database, then exits. */
import { ConfigError, loadConfig } from "../lib/config/config.ts";
import { openDatabase } from "../lib/db/open-database.ts";
import { createLogger } from "../lib/log/logger.ts";

try {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel });
  const db = await openDatabase(config.database, logger);
  const started = performance.now();
  await db.migrate();
  await db.close();
  logger.info("migrations applied", { driver: config.database.driver, durationMs: Math.round(performance.now() - started) });
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `Migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
