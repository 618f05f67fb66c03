/**
 * Rampart with its whole guard chain (buildApp) and the in-process store, serving
 * a public route (GET /v1/ping) and an authenticated one (GET /v1/whoami, an access token or an API key).
 * BENCH_LOG_SINK (stdout | file | none) and BENCH_RATE_LIMIT (on | off) isolate parts of the chain's cost.
 * The database is the production configuration's: a postgres.js client, which connects only on a first
 * query. The ping route makes none, so without BENCH_DATABASE_URL the client points nowhere; the
 * authenticated route needs real data, so BENCH_DATABASE_URL names a PostgreSQL database of its own.
 * PGlite is never loaded: it lives in the serving process (~600 MiB) and its heap lengthens GC pauses.
 * BENCH_CREDENTIALS_FILE (with BENCH_DATABASE_URL): mint BENCH_ACCESS_TOKENS access tokens (1) of one
 * session and an API key before serving, and write them there as JSON (BenchCredentials), for the load
 * generator to send to /v1/whoami.
 * BENCH_WITHOUT (bench/chain-floor.ts): one part of the chain left out, to price it: a guard step by its
 * name in GUARD_STEPS, "request log" (lines not even built), or "socket address" (no requestIP call).
 */
import { Elysia } from "elysia";
import { loadConfig } from "../../lib/config/config.ts";
import type { AccessPolicy, UserPolicy } from "../../lib/core/route-policy.ts";
import { buildApp } from "../../lib/http/app.ts";
import { GUARD_STEPS, type GuardStep } from "../../lib/http/guard-chain.ts";
import { policyPlugin } from "../../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../../lib/http/route-group.ts";
import { createLogger } from "../../lib/log/logger.ts";
import { openRuntime } from "../../lib/runtime/runtime.ts";
import { logSinkFromEnv, openLogSink } from "./log-sink.ts";
import { mintBenchCredentials } from "./rampart-credentials.ts";

// Exit normally on SIGTERM so `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));

const without = process.env.BENCH_WITHOUT ?? "";
const rateLimited = process.env.BENCH_RATE_LIMIT !== "off";
const stepLeftOut = GUARD_STEPS.findIndex((step) => step.name === without);
// Bench only: the app reads the list when it runs a request, so a step spliced out here is skipped.
if (stepLeftOut !== -1) (GUARD_STEPS as GuardStep[]).splice(stepLeftOut, 1);
else if (without !== "" && without !== "request log" && without !== "socket address")
  throw new Error(`BENCH_WITHOUT names no part of the chain: ${without}`);
// A limit the load never reaches: the limiter does all its work but never refuses.
const PING: UserPolicy = {
  rateLimits: rateLimited ? [{ name: "bench", limit: 1e9, windowMs: 60_000, scope: "ip" }] : [],
};
const KEY_SCOPE = "orgs:read";
const WHOAMI: AccessPolicy = { ...PING, scopes: [KEY_SCOPE] };

// Both routes are always served, so the public and the authenticated figures come from the same app.
const bench = defineRouteGroup("bench", () =>
  new Elysia({ name: "bench" })
    .use(policyPlugin)
    .get("/v1/ping", () => ({ ok: true, time: Date.now() }), { public: PING })
    .get(
      "/v1/whoami",
      ({ caller }) => {
        return { kind: caller.kind, id: caller.kind === "user" ? caller.userId : caller.keyId };
      },
      { userOrKey: WHOAMI },
    ),
);

const config = loadConfig({
  NODE_ENV: "test",
  LOG_LEVEL: "info",
  CORS_ORIGINS: "https://app.example.com",
  DATABASE_URL: process.env.BENCH_DATABASE_URL ?? "postgres://bench:unused@127.0.0.1:1/bench",
  DATABASE_DRIVER: "postgres",
});
const logger = createLogger({
  level: without === "request log" ? "warn" : config.logLevel,
  sink: openLogSink(logSinkFromEnv()),
});
const runtime = await openRuntime(config, { logger });
const app = buildApp(runtime, [bench]);
const credentialsFile = process.env.BENCH_CREDENTIALS_FILE;
if (credentialsFile !== undefined) {
  await runtime.db.migrate();
  const credentials = await mintBenchCredentials(runtime, KEY_SCOPE, Number(process.env.BENCH_ACCESS_TOKENS ?? 1));
  await Bun.write(credentialsFile, JSON.stringify(credentials));
}
const LOOPBACK = { requestIP: () => ({ address: "127.0.0.1" }) };
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch: (request, server) => app.fetch(request, without === "socket address" ? LOOPBACK : server),
});
