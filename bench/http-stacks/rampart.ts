/**
 * Rampart with its whole guard chain (buildApp) over an in-memory PGlite and the in-process store.
 * BENCH_LOG_SINK (file | stdout | none) and BENCH_RATE_LIMIT (on | off) isolate parts of the chain's cost;
 * BENCH_DB=postgres swaps PGlite for the postgres.js driver (which connects only on a first query, and
 * the ping route makes none), to price an embedded database living in the serving process.
 */
import { Elysia } from "elysia";
import { loadConfig } from "../../lib/config/config.ts";
import { openPglite } from "../../lib/db/pglite.ts";
import { buildApp } from "../../lib/http/app.ts";
import { policyPlugin } from "../../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../../lib/http/route-group.ts";
import type { RoutePolicy } from "../../lib/http/route-policy.ts";
import { createLogger } from "../../lib/log/logger.ts";
import { openRuntime } from "../../lib/runtime/runtime.ts";
import { logSinkFromEnv, openLogSink } from "./log-sink.ts";

// Exit normally on SIGTERM so `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));

const rateLimited = process.env.BENCH_RATE_LIMIT !== "off";
// A limit the load never reaches: the limiter does all its work but never refuses.
const PING: RoutePolicy = {
  access: "public",
  rateLimits: rateLimited ? [{ name: "bench", limit: 1e9, windowMs: 60_000, scope: "ip" }] : [],
};

const ping = defineRouteGroup("bench", () =>
  new Elysia({ name: "bench" }).use(policyPlugin).get("/v1/ping", () => ({ ok: true, time: Date.now() }), { policy: PING }),
);

const onPostgres = process.env.BENCH_DB === "postgres";
const config = loadConfig({
  NODE_ENV: "test",
  LOG_LEVEL: "info",
  CORS_ORIGINS: "https://app.example.com",
  ...(onPostgres ? { DATABASE_URL: "postgres://bench:unused@127.0.0.1:1/bench", DATABASE_DRIVER: "postgres" } : {}),
});
const logger = createLogger({ level: config.logLevel, sink: openLogSink(logSinkFromEnv()) });
const runtime = await openRuntime(config, onPostgres ? { logger } : { db: await openPglite(undefined), logger });
const app = buildApp(runtime, [ping]);
Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: (request, server) => app.fetch(request, server) });
