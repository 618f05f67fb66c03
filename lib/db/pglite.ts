/** Embedded PostgreSQL (PGlite, WASM) for local development and tests: no server to install. */
import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { drizzle } from "drizzle-orm/pglite";
import { migrate } from "drizzle-orm/pglite/migrator";
import * as schema from "./schema/index.ts";
import { type Database, type Db, MIGRATIONS_FOLDER } from "./database.ts";

/** `dataDir` undefined keeps the database in memory. */
export async function openPglite(dataDir: string | undefined): Promise<Database> {
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
  const client = dataDir === undefined ? new PGlite() : new PGlite(dataDir);
  await client.waitReady;
  const db = drizzle({ client, schema }) as unknown as Db;
  return {
    driver: "pglite",
    primary: db,
    read: (query) => query(db),
    ping: async () => {
      await client.query("select 1");
    },
    migrate: async () => {
      await migrate(drizzle({ client, schema }), { migrationsFolder: MIGRATIONS_FOLDER });
    },
    close: () => client.close(),
  };
}
