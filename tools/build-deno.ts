/**
 * `bun run build:deno`: one bundle for Deno Deploy serving every route group, with the schedules
 * registered through Deno.cron. Deploy with `deployctl deploy --entrypoint=dist/deno/main.js`.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { EMBEDDED_DATABASE_PACKAGES } from "./bundle-options.ts";
import { routeGroupFiles } from "./route-groups.ts";

const ROOT = join(import.meta.dir, "..");
const OUT_DIR = join(ROOT, "dist", "deno");

export async function buildDenoBundle(): Promise<string> {
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const entry = join(OUT_DIR, "entry.ts");
  const groups = routeGroupFiles();
  writeFileSync(
    entry,
    [
      // First, so arktype reads its configuration before any module imports it.
      `import ${JSON.stringify(relative(OUT_DIR, join(ROOT, "lib/core/arktype-jitless.ts")))};`,
      `import { SCHEDULED_JOBS } from ${JSON.stringify(relative(OUT_DIR, join(ROOT, "lib/cron/registry.ts")))};`,
      `import { startDenoDeploy } from ` +
        `${JSON.stringify(relative(OUT_DIR, join(ROOT, "lib/serverless/deno-deploy.ts")))};`,
      ...groups.map((file, i) => `import group${i} from ${JSON.stringify(relative(OUT_DIR, file))};`),
      `declare const Deno: Parameters<typeof startDenoDeploy>[0];`,
      `startDenoDeploy(Deno, [${groups.map((_, i) => `group${i}`).join(", ")}], SCHEDULED_JOBS);`,
      "",
    ].join("\n"),
  );
  const result = await Bun.build({
    entrypoints: [entry],
    outdir: OUT_DIR,
    target: "node",
    format: "esm",
    minify: true,
    external: EMBEDDED_DATABASE_PACKAGES,
    naming: "main.js",
  });
  rmSync(entry);
  if (!result.success) throw new AggregateError(result.logs, "Deno bundle failed");
  return join(OUT_DIR, "main.js");
}

if (import.meta.main) console.log(`wrote ${relative(ROOT, await buildDenoBundle())}`);
