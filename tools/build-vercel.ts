/**
 * `bun run build`: writes Vercel's Build Output API folder (.vercel/output) from functions/: one bundled
 * Bun function per route group, routes sending each group's paths to its function, the cron schedules,
 * and no static files at all, so no source folder can ever be served.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { SCHEDULED_JOBS } from "../lib/cron/registry.ts";
import type { RouteGroup } from "../lib/http/route-group.ts";
import { routePatternSource } from "../lib/http/route-pattern.ts";
import { buildTimeRuntime } from "./build-time-runtime.ts";
import { FUNCTION_BUNDLE_OPTIONS } from "./bundle-options.ts";
import { routeGroupFiles } from "./route-groups.ts";

const ROOT = join(import.meta.dir, "..");
export const VERCEL_OUTPUT_DIR = join(ROOT, ".vercel", "output");
const FUNCTION_DEFAULTS = {
  runtime: "bun1.x",
  handler: "index.mjs",
  launcherType: "Nodejs",
  shouldAddHelpers: false,
  supportsResponseStreaming: true,
  maxDuration: 30,
};
const MAX_DURATION_BY_GROUP: Record<string, number> = { cron: 300 };
const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** Builds a group's routes against a runtime whose database refuses use: building must not do I/O. */
function routePathsOf(group: RouteGroup): string[] {
  const runtime = buildTimeRuntime(`route group "${group.name}"`);
  return [...new Set(group.build(runtime).routes.map((route: { path: string }) => route.path))].filter(
    (path) => path !== "/*",
  );
}

function entrySource(groupFile: string, outDir: string): string {
  const lib = (file: string) => JSON.stringify(relative(outDir, join(ROOT, "lib", file)));
  return [
    // First, so arktype reads its configuration before any module imports it.
    `import ${lib("core/arktype-jitless.ts")};`,
    `import group from ${JSON.stringify(relative(outDir, groupFile))};`,
    `import { createServerlessApp, loadConfigOrThrow } from ${lib("serverless/serverless-app.ts")};`,
    `const app = createServerlessApp(loadConfigOrThrow(process.env), [group]);`,
    // Vercel may pass a second argument (a context or server object); the client address comes from its headers.
    `const handle = (request) => app.fetch(request);`,
    `export default { fetch: handle };`,
    ...HTTP_METHODS.map((method) => `export const ${method} = handle;`),
    "",
  ].join("\n");
}

/** Vercel hands the project's variables to the build too: a missing TRUST_PROXY=vercel is caught before it ships. */
export function trustProxyWarning(env: Record<string, string | undefined>): string | undefined {
  if (env.TRUST_PROXY === "vercel") return undefined;
  const value = env.TRUST_PROXY === undefined ? "not set" : `"${env.TRUST_PROXY}"`;
  return (
    `warning: TRUST_PROXY is ${value}, not vercel: behind Vercel every caller would share one "unknown" client ` +
    "address and one rate-limit bucket, and no address could be blocked. Set TRUST_PROXY=vercel in the " +
    "project's environment."
  );
}

export async function buildVercelOutput(): Promise<{ functions: string[]; routes: number }> {
  rmSync(VERCEL_OUTPUT_DIR, { recursive: true, force: true });
  const routes: { src: string; dest: string }[] = [];
  const functions: string[] = [];
  let fallback: string | undefined;
  for (const file of routeGroupFiles()) {
    const group = ((await import(file)) as { default: RouteGroup }).default;
    const name = basename(file, ".ts");
    const funcDir = join(VERCEL_OUTPUT_DIR, "functions", `${name}.func`);
    mkdirSync(funcDir, { recursive: true });
    const entry = join(funcDir, "entry.ts");
    writeFileSync(entry, entrySource(file, funcDir));
    const result = await Bun.build({
      entrypoints: [entry],
      outdir: funcDir,
      ...FUNCTION_BUNDLE_OPTIONS,
    });
    rmSync(entry);
    if (!result.success) throw new AggregateError(result.logs, `bundling ${name} failed`);
    writeFileSync(
      join(funcDir, ".vc-config.json"),
      JSON.stringify(
        { ...FUNCTION_DEFAULTS, maxDuration: MAX_DURATION_BY_GROUP[name] ?? FUNCTION_DEFAULTS.maxDuration },
        null,
        2,
      ),
    );
    for (const path of routePathsOf(group)) routes.push({ src: routePatternSource(path), dest: `/${name}` });
    functions.push(name);
    if (fallback === undefined || name === "health") fallback = name;
  }
  const config = {
    version: 3,
    // Everything not matched goes to a function, which answers the enveloped 404; nothing is static.
    routes: [...routes, ...(fallback === undefined ? [] : [{ src: "^/.*$", dest: `/${fallback}` }])],
    crons: SCHEDULED_JOBS.map((job) => ({ path: `/cron/${job.name}`, schedule: job.schedule })),
  };
  writeFileSync(join(VERCEL_OUTPUT_DIR, "config.json"), JSON.stringify(config, null, 2));
  return { functions, routes: routes.length };
}

if (import.meta.main) {
  const warning = trustProxyWarning(process.env);
  if (warning !== undefined) console.warn(warning);
  const { functions, routes } = await buildVercelOutput();
  console.log(
    `wrote ${relative(ROOT, VERCEL_OUTPUT_DIR)}: ${functions.length} functions (${functions.join(", ")}), ` +
      `${routes} routes`,
  );
}
