/** Plain TCP PostgreSQL (postgres.js) for Rampart running as a long-lived server next to its database. */
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import type { Logger } from "../log/logger.ts";
import { type Database, type Db, MIGRATIONS_FOLDER } from "./database.ts";
import { createReadRouter } from "./read-replica.ts";
import * as schema from "./schema/index.ts";

const POOL_OPTIONS = { max: 10, idle_timeout: 30, connect_timeout: 5, onnotice: () => {} } as const;

export function openPostgres(options: { url: string; readUrl: string | undefined }, logger: Logger): Database {
  const sql = postgres(options.url, POOL_OPTIONS);
  const replicaSql = options.readUrl === undefined ? undefined : postgres(options.readUrl, POOL_OPTIONS);
  const primary = drizzle({ client: sql, schema }) as unknown as Db;
  const replica = replicaSql === undefined ? undefined : (drizzle({ client: replicaSql, schema }) as unknown as Db);
  return {
    driver: "postgres",
    primary,
    read: createReadRouter(primary, replica, logger),
    ping: async () => {
      await sql`select 1`;
    },
    migrate: () => migrate(drizzle({ client: sql, schema }), { migrationsFolder: MIGRATIONS_FOLDER }),
    close: async () => {
      await Promise.all([sql.end({ timeout: 5 }), replicaSql?.end({ timeout: 5 })]);
    },
  };
}
