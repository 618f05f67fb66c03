/**
 * `bun dev`: every route group from functions/ in one process, hot reloaded, with the scheduled jobs
 * running in-process. Runtime and server live on globalThis so a hot reload keeps the database open.
 */
import type { Server } from "bun";
import { ConfigError, loadConfig } from "../lib/config/config.ts";
import { startInProcessScheduler } from "../lib/cron/in-process-scheduler.ts";
import { SCHEDULED_JOBS } from "../lib/cron/registry.ts";
import { type RampartApp, buildApp } from "../lib/http/app.ts";
import { type Runtime, openRuntime } from "../lib/runtime/runtime.ts";
import { shutDown } from "../lib/server/graceful-shutdown.ts";
import { loadRouteGroups } from "../tools/route-groups.ts";

interface DevState {
  runtime: Runtime;
  server: Server<undefined>;
  app: RampartApp;
  scheduler: { stop(): void };
}

const holder = globalThis as typeof globalThis & { rampartDev?: DevState };

function describeDatabase(runtime: Runtime): string {
  const database = runtime.config.database;
  if (database.driver === "pglite") return `PGlite (embedded, ${database.dataDir ?? "in memory"})`;
  return `${database.driver === "neon" ? "Neon serverless driver" : "PostgreSQL over TCP"}${database.readUrl ? " with a read replica" : ""}`;
}

async function start(): Promise<void> {
  const started = performance.now();
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
  const runtime = await openRuntime(config);
  if (config.env !== "production") await runtime.db.migrate();
  const app = buildApp(runtime, await loadRouteGroups());
  const server = Bun.serve({ port: config.port, fetch: app.fetch });
  const scheduler = startInProcessScheduler(runtime, SCHEDULED_JOBS);
  const state: DevState = { runtime, server, app, scheduler };
  holder.rampartDev = state;

  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const current = holder.rampartDev ?? state;
    shutDown(
      { app: current.app, runtime: current.runtime, stopListening: () => void current.server.stop(), beforeClose: () => current.scheduler.stop() },
      signal,
    ).then(() => process.exit(0));
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));

  const store = runtime.store.kind === "memory" ? "in-process store" : "Upstash Redis (in-process fallback)";
  console.log(`Rampart listening on ${server.url.href.replace(/\/$/, "")}`);
  console.log(`  database: ${describeDatabase(runtime)}`);
  console.log(`  store:    ${store}`);
  console.log(`  ready in ${Math.round(performance.now() - started)} ms`);
}

async function reload(state: DevState): Promise<void> {
  state.app = buildApp(state.runtime, await loadRouteGroups());
  state.server.reload({ fetch: state.app.fetch });
  state.runtime.logger.info("reloaded");
}

if (holder.rampartDev === undefined) await start();
else await reload(holder.rampartDev);
