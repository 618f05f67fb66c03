/**
 * Serves a Rampart app with Bun.serve as a long-lived process, with graceful shutdown on SIGINT/SIGTERM.
 * Shared settings and the IP blocklist are polled on a timer while it serves.
 */
import type { Server } from "bun";
import { startInProcessScheduler } from "../cron/in-process-scheduler.ts";
import type { ScheduledJob } from "../cron/scheduled-job.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import type { RouteGroup } from "../http/route-group.ts";
import { LIVE_WEBSOCKET_SERVER } from "../live/websocket-server.ts";
import { FLUSH_EVERY_MS, metricsRegistry } from "../metrics/metrics-registry.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { shutDown } from "./graceful-shutdown.ts";

export interface ServedApp {
  readonly runtime: Runtime;
  readonly server: Server<undefined>;
  app: RampartApp;
  /** Swaps in freshly built route groups without dropping the listener (hot reload). */
  replaceRoutes(groups: readonly RouteGroup[]): void;
}

export function serveApp(runtime: Runtime, groups: readonly RouteGroup[], jobs: readonly ScheduledJob[]): ServedApp {
  const app = buildApp(runtime, groups);
  const server = Bun.serve({ port: runtime.config.port, fetch: app.fetch, websocket: LIVE_WEBSOCKET_SERVER });
  const scheduler = startInProcessScheduler(runtime, jobs);
  runtime.settings.start();
  // Requests flush too, but an idle server's last deltas would otherwise wait for its next request.
  const metricsFlush = setInterval(() => {
    void metricsRegistry().flush(runtime.store, runtime.now());
  }, FLUSH_EVERY_MS);
  metricsFlush.unref();
  const served: ServedApp = {
    runtime,
    server,
    app,
    replaceRoutes(next) {
      served.app = buildApp(runtime, next);
      server.reload({ fetch: served.app.fetch, websocket: LIVE_WEBSOCKET_SERVER });
    },
  };

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const beforeClose = () => {
      scheduler.stop();
      runtime.settings.stop();
      clearInterval(metricsFlush);
    };
    const target = { app: served.app, runtime, stopListening: () => server.stop(), beforeClose };
    shutDown(target, signal).then(
      () => process.exit(0),
      (error: unknown) => {
        runtime.logger.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return served;
}
