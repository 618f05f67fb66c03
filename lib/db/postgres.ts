/** Plain TCP PostgreSQL (postgres.js) for Rampart running as a long-lived server next to its database. */
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import type { Logger } from "../log/logger.ts";
import { type Breaker, createBreaker } from "../resilience/breaker.ts";
import { DATABASE_BREAKER, type Database, type Db, MIGRATIONS_FOLDER } from "./database.ts";
import { createReadRouter } from "./read-replica.ts";
import * as schema from "./schema/index.ts";

const POOL_OPTIONS = { max: 10, idle_timeout: 30, connect_timeout: 5, onnotice: () => {} } as const;

type Sql = ReturnType<typeof postgres>;

// drizzle sends every query through `sql.unsafe(…)` (sometimes `.values()` first) and every transaction
// through `sql.begin(…)`. A postgres.js query runs when it is awaited, so the breaker wraps the await: an
// open breaker refuses before the query is sent. A transaction counts as one call.
function guardQueries(sql: Sql, breaker: Breaker): Sql {
  const guarded = (query: { values(): unknown; then: PromiseLike<unknown>["then"] }) => {
    const thenable = {
      values() {
        query.values();
        return thenable;
      },
      // biome-ignore lint/suspicious/noThenProperty: drizzle awaits the query, so it must stay a thenable
      then: ((onFulfilled, onRejected) =>
        breaker.execute(async () => await query).then(onFulfilled, onRejected)) as PromiseLike<unknown>["then"],
    };
    return thenable;
  };
  return new Proxy(sql, {
    get(target, property, receiver) {
      if (property === "unsafe") return (...args: Parameters<Sql["unsafe"]>) => guarded(target.unsafe(...args));
      if (property === "begin")
        return (...args: unknown[]) =>
          breaker.execute(() => (target.begin as (...a: unknown[]) => Promise<unknown>)(...args));
      return Reflect.get(target, property, receiver);
    },
  });
}

export function openPostgres(options: { url: string; readUrl: string | undefined }, logger: Logger): Database {
  const breaker = createBreaker("postgres", logger, DATABASE_BREAKER);
  const sql = guardQueries(postgres(options.url, POOL_OPTIONS), breaker);
  const replicaSql = options.readUrl === undefined ? undefined : postgres(options.readUrl, POOL_OPTIONS);
  const primary = drizzle({ client: sql, schema }) as unknown as Db;
  const replica = replicaSql === undefined ? undefined : (drizzle({ client: replicaSql, schema }) as unknown as Db);
  return {
    driver: "postgres",
    breaker,
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
