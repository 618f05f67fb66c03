/**
 * What holds a function's RSS at start: each part of bench/cold-start-floor.ts bundled alone, then the health
 * and orgs bundles, each imported by a fresh process that collects its garbage and reads its own RSS.
 * Import only, no request: `bun bench/memory-floor.ts` needs no services. Run `bun run build` first.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUNDLE_IMPORT_ENV, buildFloorParts } from "./cold-start-floor.ts";
import { median } from "./cold-start-runs.ts";

const ROOT = join(import.meta.dir, "..");
const ROUNDS = Number(process.env.MEMORY_FLOOR_RUNS ?? 5);
const bundle = (name: string) => join(ROOT, `.vercel/output/functions/${name}.func/index.mjs`);
const READ_RSS = "Bun.gc(true); console.log(process.memoryUsage().rss);";

async function rssMiBAfterImport(file: string): Promise<number> {
  const child = Bun.spawn(["bun", "-e", `await import(${JSON.stringify(file)});\n${READ_RSS}`], {
    env: BUNDLE_IMPORT_ENV,
    stdout: "pipe",
  });
  const output = await new Response(child.stdout).text();
  if ((await child.exited) !== 0) throw new Error(`importing ${file} failed`);
  return Number(output.trim().split("\n").at(-1)) / 2 ** 20;
}

const work = mkdtempSync(join(tmpdir(), "rampart-memory-floor-"));
try {
  const files = await buildFloorParts(work);
  files["health bundle (import only)"] = bundle("health");
  files["orgs bundle (import only)"] = bundle("orgs");
  const rss = new Map<string, number[]>(Object.keys(files).map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, file] of Object.entries(files)) rss.get(name)?.push(await rssMiBAfterImport(file));
  }
  const floor = median(rss.get("bun, empty module") ?? []);
  console.log(`RSS MiB after importing each part alone and Bun.gc(true), median [min-max] of ${ROUNDS} rounds`);
  console.log(`${"part".padEnd(30)} ${"RSS MiB".padStart(16)} ${"above bun".padStart(10)}`);
  for (const [name, values] of rss) {
    const range = `${median(values).toFixed(1)} [${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)}]`;
    console.log(`${name.padEnd(30)} ${range.padStart(16)} ${(median(values) - floor).toFixed(1).padStart(10)}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
