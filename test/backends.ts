/**
 * The real parts tests run against: PGlite always; PostgreSQL through the Neon driver and over TCP when
 * TEST_POSTGRES_URL is set; Redis through @upstash/redis (via the local gateway) when TEST_REDIS_URL is set.
 * Each database a test opens is a fresh one, dropped when the test closes it; a PGlite one starts as a
 * copy of a migrated template (see pglite-template.ts).
 */
import { RedisClient } from "bun";
import postgres from "postgres";
import { loadConfig } from "../lib/config/config.ts";
import type { Database } from "../lib/db/database.ts";
import { openNeon } from "../lib/db/neon.ts";
import { openPglite } from "../lib/db/pglite.ts";
import { openPostgres } from "../lib/db/postgres.ts";
import { createLogger, createMemorySink, type Logger } from "../lib/log/logger.ts";
import { createBreaker } from "../lib/resilience/breaker.ts";
import { openRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import { DEFAULT_LIVE_SETTINGS } from "../lib/settings/live-settings.ts";
import { FallbackStore } from "../lib/store/fallback-store.ts";
import { MemoryStore } from "../lib/store/memory-store.ts";
import type { Store } from "../lib/store/store.ts";
import { UpstashStore } from "../lib/store/upstash-store.ts";
import { pgliteTemplate } from "./pglite-template.ts";
import { startTcpRelay, type TcpRelay } from "./tcp-relay.ts";

export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;
export const GATEWAY_TOKEN = "test-gateway-token";
/**
 * For a hook that opens or closes a backend: copying the template or a first connection takes seconds on a loaded
 * machine, past bun's 5 s.
 */
export const BACKEND_HOOK_TIMEOUT_MS = 30_000;

export type DatabaseBackend = "pglite" | "neon" | "postgres";
export type StoreBackend = "memory" | "upstash";

export const DATABASE_BACKENDS: DatabaseBackend[] =
  TEST_POSTGRES_URL === undefined ? ["pglite"] : ["pglite", "neon", "postgres"];
export const STORE_BACKENDS: StoreBackend[] = TEST_REDIS_URL === undefined ? ["memory"] : ["memory", "upstash"];

const quietLogger = createLogger({ sink: () => {} });

// The gateways are loaded only when a real server is in play.
let neonProxy: Promise<{ port: number }> | undefined;
let gateway: Promise<{ url: string }> | undefined;

/** A fresh, empty database on the test server; returns its URL and a function that drops it. */
export async function createScratchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (TEST_POSTGRES_URL === undefined) throw new Error("TEST_POSTGRES_URL is not set");
  const name = `rampart_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export async function neonProxyAddress(): Promise<string> {
  neonProxy ??= import("../tools/neon-ws-proxy.ts").then(({ startNeonWsProxy }) => startNeonWsProxy({}));
  return `127.0.0.1:${(await neonProxy).port}`;
}

export async function openTestDatabase(
  backend: DatabaseBackend,
  logger: Logger = quietLogger,
  url?: string,
): Promise<Database> {
  if (backend === "pglite") return openPglite(undefined, await pgliteTemplate());
  const scratch = url === undefined ? await createScratchDatabase() : undefined;
  const db = await openServerDriver(backend, url ?? (scratch as { url: string }).url, logger);
  return {
    ...db,
    async close() {
      await db.close();
      await scratch?.drop();
    },
  };
}

export interface RelayedDatabase {
  /** Closing it also closes the relay and drops the database. */
  db: Database;
  relay: TcpRelay;
  /** The database's own URL, past the relay: for a test's admin connection that must survive the cut. */
  directUrl: string;
}

/**
 * A fresh database on the test server that `driver` reaches through a TCP relay, so a test can cut it;
 * `wsProxy` replaces the shared Neon gateway.
 */
export async function openDatabaseBehindRelay(
  driver: "neon" | "postgres",
  options: { wsProxy?: string } = {},
): Promise<RelayedDatabase> {
  const scratch = await createScratchDatabase();
  const target = new URL(scratch.url);
  const relay = startTcpRelay({ hostname: target.hostname, port: Number(target.port) });
  target.port = String(relay.port);
  const db = await openServerDriver(driver, target.toString(), quietLogger, options.wsProxy);
  return {
    relay,
    directUrl: scratch.url,
    db: {
      ...db,
      async close() {
        relay.close();
        await db.close();
        await scratch.drop();
      },
    },
  };
}

async function openServerDriver(
  driver: "neon" | "postgres",
  url: string,
  logger: Logger,
  wsProxy?: string,
): Promise<Database> {
  return driver === "neon"
    ? openNeon({ url, readUrl: undefined, wsProxy: wsProxy ?? (await neonProxyAddress()) }, logger)
    : openPostgres({ url, readUrl: undefined }, logger);
}

/** The URL of an Upstash-compatible gateway over `redisUrl` (one shared gateway for TEST_REDIS_URL). */
/**
 * Removes the live settings document from the test Redis: an earlier test's change (CORS origins, overrides)
 * would otherwise override the environment of a server a test starts over the same Redis.
 */
export async function clearLiveSettings(redisUrl: string = TEST_REDIS_URL ?? ""): Promise<void> {
  const redis = new RedisClient(redisUrl);
  try {
    const keys = (await redis.send("KEYS", [`${DEFAULT_LIVE_SETTINGS.key}*`])) as string[];
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.close();
  }
}

export async function upstashGatewayUrl(redisUrl: string = TEST_REDIS_URL ?? ""): Promise<string> {
  const start = () =>
    import("../tools/upstash-gateway.ts").then(({ startUpstashGateway }) =>
      startUpstashGateway({ redisUrl, token: GATEWAY_TOKEN }),
    );
  if (redisUrl !== TEST_REDIS_URL) return (await start()).url;
  gateway ??= start();
  return (await gateway).url;
}

export async function openTestStore(backend: StoreBackend, logger: Logger = quietLogger): Promise<Store> {
  if (backend === "memory") return new MemoryStore();
  const upstash = new UpstashStore({ url: await upstashGatewayUrl(), token: GATEWAY_TOKEN, timeoutMs: 1_000 });
  return new FallbackStore(upstash, createBreaker("redis", logger), logger);
}

export interface TestRuntime extends Runtime {
  logLines: string[];
  close(): Promise<void>;
}

/** A runtime on the given backends whose log lines are kept for assertions. */
export async function openTestRuntime(
  options: {
    database?: DatabaseBackend;
    store?: StoreBackend;
    env?: Record<string, string>;
    db?: Database;
    now?: () => number;
  } = {},
): Promise<TestRuntime> {
  const capture = createMemorySink();
  const logger = createLogger({ level: "debug", sink: capture.sink });
  const config = loadConfig({ NODE_ENV: "test", ...options.env });
  // A database the test opened itself (behind a relay, say) is used as it is, and closed with the runtime.
  const db = options.db ?? (await openTestDatabase(options.database ?? "pglite", logger));
  await db.migrate();
  const store = await openTestStore(options.store ?? "memory", logger);
  const runtime = await openRuntime(config, { logger, db, store, ...(options.now && { now: options.now }) });
  return { ...runtime, logLines: capture.lines, close: () => db.close() };
}
