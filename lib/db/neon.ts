/** Neon's serverless driver over WebSockets: a pool, so interactive transactions work on serverless. */
import { neonConfig, Pool, type PoolClient } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-serverless";
import { migrate } from "drizzle-orm/neon-serverless/migrator";
import type { Logger } from "../log/logger.ts";
import { type Breaker, createBreaker } from "../resilience/breaker.ts";
import { DATABASE_BREAKER, type Database, type Db, MIGRATIONS_FOLDER } from "./database.ts";
import { createReadRouter, type ReadRoutingOptions, type ReplicaConnection } from "./read-replica.ts";
import * as schema from "./schema/index.ts";

export interface NeonOptions {
  url: string;
  readUrl: string | undefined;
  /** `host:port` of a local WebSocket-to-TCP proxy, for self-hosted PostgreSQL behind the Neon driver. */
  wsProxy: string | undefined;
  readRouting?: Partial<ReadRoutingOptions>;
}

function useLocalProxy(proxy: string): void {
  neonConfig.wsProxy = (host, port) => `${proxy}/v1?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}

// Every pooled query goes through the breaker, so a dead database fails requests fast (503) instead of
// each one waiting out a connection attempt. Interactive transactions hold their own client: see guardTransactions.
function guardQueries(pool: Pool, breaker: Breaker): void {
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args) =>
    breaker.execute(() => query(...args));
}

// A transaction counts as one call, as on postgres.js: its connect and every query on its client are inside it.
function guardTransactions(db: Db, breaker: Breaker): void {
  const transaction = db.transaction.bind(db);
  db.transaction = (run, config) => breaker.execute(() => transaction(run, config));
}

function openReplica(url: string, logger: Logger): ReplicaConnection & { pool: Pool } {
  const pool = new Pool({ connectionString: url });
  const breaker = createBreaker("postgres-replica", logger, DATABASE_BREAKER);
  guardQueries(pool, breaker);
  pool.on("error", (error: Error) => logger.warn("read replica pool error", { error }));
  return { pool, breaker, db: drizzle({ client: pool, schema }) as unknown as Db };
}

export function openNeon(options: NeonOptions, logger: Logger): Database {
  if (options.wsProxy !== undefined) useLocalProxy(options.wsProxy);
  const pool = new Pool({ connectionString: options.url });
  const breaker = createBreaker("postgres", logger, DATABASE_BREAKER);
  guardQueries(pool, breaker);
  const replica = options.readUrl === undefined ? undefined : openReplica(options.readUrl, logger);
  // Idle clients that lose their socket emit 'error' on the pool; without a listener that crashes the process.
  pool.on("error", (error: Error) => logger.warn("database pool error", { error }));
  // The pool stops listening to a client it hands out, and a client that loses its socket between two queries of
  // a transaction emits 'error' with no listener, thrown out of the WebSocket's handler. Its next query fails anyway.
  pool.on("connect", (client: PoolClient) =>
    client.on("error", (error: Error) => logger.debug("database connection lost", { error })),
  );
  const primary = drizzle({ client: pool, schema }) as unknown as Db;
  guardTransactions(primary, breaker);
  return {
    driver: "neon",
    breaker,
    replicaBreaker: replica?.breaker,
    primary,
    read: createReadRouter(primary, replica, logger, options.readRouting),
    ping: async () => {
      await pool.query("select 1");
    },
    migrate: () => migrate(drizzle({ client: pool, schema }), { migrationsFolder: MIGRATIONS_FOLDER }),
    close: async () => {
      await Promise.all([pool.end(), replica?.pool.end()]);
    },
  };
}
