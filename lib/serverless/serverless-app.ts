/**
 * The entry of a deployed function (Vercel, Deno Deploy): configuration is validated when the module
 * loads; the runtime opens on the first request and is reused while the instance stays warm.
 * Migrations are never applied here: production runs `bun run db:migrate`.
 */
import { type Config, ConfigError, loadConfig } from "../config/config.ts";
import { type RampartApp, buildApp } from "../http/app.ts";
import type { RouteGroup } from "../http/route-group.ts";
import { type Runtime, openRuntime } from "../runtime/runtime.ts";

export interface ServerlessApp {
  fetch(request: Request): Promise<Response>;
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

export function createServerlessApp(config: Config, groups: readonly RouteGroup[]): ServerlessApp {
  let opening: Promise<{ runtime: Runtime; app: RampartApp }> | undefined;
  const open = () =>
    (opening ??= openRuntime(config).then((runtime) => ({ runtime, app: buildApp(runtime, groups) })).catch((error: unknown) => {
      opening = undefined;
      throw error;
    }));
  return {
    fetch: async (request) => (await open()).app.fetch(request),
    runtime: async () => (await open()).runtime,
  };
}
