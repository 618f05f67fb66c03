/**
 * Embedded PostgreSQL (PGlite, WASM) for local development and tests: no server to install. Its packages load
 * when a database opens, so a deployment bundle (which leaves them out, see tools/bundle-options.ts) runs
 * without them.
 */
import { mkdirSync } from "node:fs";
import { type Database, type Db, MIGRATIONS_FOLDER } from "./database.ts";
import * as schema from "./schema/index.ts";

export interface PgliteDatabase extends Database {
  /** The whole cluster as an uncompressed tarball, to open copies of it from. */
  dump(): Promise<Blob>;
}

/**
 * `dataDir` undefined keeps the database in memory. `from`, a dump, starts the cluster from it instead of
 * running initdb, which takes seconds in WASM: about a quarter of the time, and migrations already applied.
 */
export async function openPglite(dataDir: string | undefined, from?: Blob): Promise<PgliteDatabase> {
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
  const [{ PGlite }, { drizzle }, { migrate }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("drizzle-orm/pglite"),
    import("drizzle-orm/pglite/migrator"),
  ]);
  const client = new PGlite({ dataDir, loadDataDir: from });
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
    dump: () => client.dumpDataDir("none"),
    close: () => client.close(),
  };
}
