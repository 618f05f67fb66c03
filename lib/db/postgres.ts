/** Plain TCP PostgreSQL (postgres.js) for Rampart running as a long-lived server next to its database. */
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import type { Logger } from "../log/logger.ts";
import { type Breaker, createBreaker } from "../resilience/breaker.ts";
import { DATABASE_BREAKER, type Database, type Db, MIGRATIONS_FOLDER } from "./database.ts";
import { createReadRouter, type ReadRoutingOptions, type ReplicaConnection } from "./read-replica.ts";
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

export interface PostgresOptions {
  url: string;
  readUrl: string | undefined;
  readRouting?: Partial<ReadRoutingOptions>;
}

function openReplica(url: string, logger: Logger): ReplicaConnection & { sql: Sql } {
  const breaker = createBreaker("postgres-replica", logger, DATABASE_BREAKER);
  const sql = guardQueries(postgres(url, POOL_OPTIONS), breaker);
  return { sql, breaker, db: drizzle({ client: sql, schema }) as unknown as Db };
}

export function openPostgres(options: PostgresOptions, logger: Logger): Database {
  const breaker = createBreaker("postgres", logger, DATABASE_BREAKER);
  const sql = guardQueries(postgres(options.url, POOL_OPTIONS), breaker);
  const primary = drizzle({ client: sql, schema }) as unknown as Db;
  const replica = options.readUrl === undefined ? undefined : openReplica(options.readUrl, logger);
  return {
    driver: "postgres",
    breaker,
    replicaBreaker: replica?.breaker,
    primary,
    read: createReadRouter(primary, replica, logger, options.readRouting),
    ping: async () => {
      await sql`select 1`;
    },
    migrate: () => migrate(drizzle({ client: sql, schema }), { migrationsFolder: MIGRATIONS_FOLDER }),
    close: async () => {
      await Promise.all([sql.end({ timeout: 5 }), replica?.sql.end({ timeout: 5 })]);
    },
  };
}
