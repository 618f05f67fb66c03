/**
 * The entry of a deployed function (Vercel, Deno Deploy): configuration is validated when the module
 * loads; the runtime opens on the first request and is reused while the instance stays warm.
 * Shared settings and the IP blocklist are loaded before the first request, then refreshed in the
 * background by a request that finds them older than the poll interval: a frozen instance runs no timer.
 * Migrations are never applied here: production runs `bun run db:migrate`.
 */
import { assertSigningKeyUsable } from "../auth/signing-key-check.ts";
import { type Config, ConfigError, loadConfig } from "../config/config.ts";
import { createWaitUntil } from "../core/wait-until.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import type { RouteGroup } from "../http/route-group.ts";
import { openRuntime, type Runtime } from "../runtime/runtime.ts";

export interface ServerlessApp {
  /** `peerAddress`: the connection's address where the platform tells it (Deno Deploy's `info.remoteAddr`). */
  fetch(request: Request, peerAddress?: string): Promise<Response>;
  runtime(): Promise<Runtime>;
}

export function loadConfigOrThrow(env: Record<string, string | undefined>): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) console.error(error.message);
    throw error;
  }
}

// A function has no start-up to refuse: the opening fails, loudly, and the next request tries again.
async function refuseUnusableSigningKey(runtime: Runtime): Promise<void> {
  try {
    await assertSigningKeyUsable(runtime);
  } catch (error) {
    if (error instanceof ConfigError) console.error(error.message);
    await runtime.db.close();
    throw error;
  }
}

export function createServerlessApp(config: Config, groups: readonly RouteGroup[]): ServerlessApp {
  let opening:
    | Promise<{ runtime: Runtime; app: RampartApp; inBackground: (pending: Promise<unknown>) => void }>
    | undefined;
  const open = () =>
    (opening ??= openRuntime(config)
      .then(async (runtime) => {
        if (config.env === "production") await refuseUnusableSigningKey(runtime);
        const app = buildApp(runtime, groups);
        await runtime.settings.poll();
        return { runtime, app, inBackground: createWaitUntil(runtime.logger) };
      })
      .catch((error: unknown) => {
        opening = undefined;
        throw error;
      }));
  return {
    fetch: async (request, peerAddress) => {
      const { runtime, app, inBackground } = await open();
      const polling = runtime.settings.pollIfStale();
      if (polling !== undefined) inBackground(polling);
      return app.fetch(
        request,
        peerAddress === undefined ? undefined : { requestIP: () => ({ address: peerAddress }) },
      );
    },
    runtime: async () => (await open()).runtime,
  };
}
