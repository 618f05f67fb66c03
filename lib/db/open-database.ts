/** Picks the database driver the configuration names. */
import type { DatabaseConfig } from "../config/config.ts";
import type { Logger } from "../log/logger.ts";
import type { Database } from "./database.ts";

export async function openDatabase(config: DatabaseConfig, logger: Logger): Promise<Database> {
  switch (config.driver) {
    case "pglite":
      return (await import("./pglite.ts")).openPglite(config.dataDir);
    case "neon":
      return (await import("./neon.ts")).openNeon(config, logger);
    case "postgres":
      return (await import("./postgres.ts")).openPostgres(config, logger);
  }
}
