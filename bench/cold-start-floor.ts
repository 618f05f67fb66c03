/**
 * Where the health function's cold-start CPU goes: each part bundled alone (minified, as `bun run build` does)
 * and imported by a fresh process, in alternating rounds, beside the health bundle itself. Import only, no
 * request: `bun bench/cold-start-floor.ts` needs no services. Run `bun run build` first.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./cold-start-runs.ts";

const ROOT = join(import.meta.dir, "..");
const ROUNDS = Number(process.env.COLD_START_RUNS ?? 9);
const HEALTH = join(ROOT, ".vercel/output/functions/health.func/index.mjs");
const pkg = (name: string) => JSON.stringify(join(ROOT, "node_modules", name));
const lib = (file: string) => JSON.stringify(join(ROOT, "lib", file));

// Each part as the bundles use it; the first is the runtime's own floor.
/** A production configuration the bundles accept at import; nothing is contacted before a first request. */
export const BUNDLE_IMPORT_ENV = {
  PATH: process.env.PATH ?? "",
  NODE_ENV: "production",
  DATABASE_URL: "postgres://bench:unused@127.0.0.1:1/bench",
  DATABASE_DRIVER: "postgres",
  UPSTASH_REDIS_REST_URL: "http://127.0.0.1:1",
  UPSTASH_REDIS_REST_TOKEN: "unused",
  ENCRYPTION_KEYS: `v1:${Buffer.alloc(32, 7).toString("base64")}`,
  TRUST_PROXY: "vercel",
};

export const FLOOR_PARTS: Record<string, string> = {
  "bun, empty module": "",
  "elysia, one route": `import { Elysia } from ${pkg("elysia")};\nnew Elysia().get("/", () => "ok");`,
  "arktype (jitless), one type": [
    `import ${lib("core/arktype-jitless.ts")};`,
    `import { type } from ${pkg("arktype")};`,
    `type({ a: "string" });`,
  ].join("\n"),
  "postgres.js": `import postgres from ${pkg("postgres")};\npostgres;`,
  "@neondatabase/serverless": `import { Pool } from ${pkg("@neondatabase/serverless")};\nPool;`,
  "@upstash/redis + ratelimit": [
    `import { Redis } from ${pkg("@upstash/redis")};`,
    `import { Ratelimit } from ${pkg("@upstash/ratelimit")};`,
    "Redis; Ratelimit;",
  ].join("\n"),
  "drizzle-orm (pg-core)": `import { pgTable, text } from ${pkg("drizzle-orm/pg-core")};\npgTable("t", { a: text() });`,
  jose: `import * as jose from ${pkg("jose")};\njose;`,
};

/** Bundles each part alone into `work`, minified as the deployment bundles are; returns name → file. */
export async function buildFloorParts(work: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const [name, source] of Object.entries(FLOOR_PARTS)) {
    const entry = join(work, `${Object.keys(files).length}.ts`);
    writeFileSync(entry, `${source}\n`);
    const built = await Bun.build({ entrypoints: [entry], outdir: work, target: "bun", minify: true });
    if (!built.success) throw new AggregateError(built.logs);
    files[name] = built.outputs[0]?.path ?? "";
  }
  return files;
}

async function printFloor(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "rampart-floor-"));
  try {
    const files = await buildFloorParts(work);
    files["health bundle (import only)"] = HEALTH;
    const cpu = new Map<string, number[]>(Object.keys(files).map((name) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, file] of Object.entries(files)) {
        const child = Bun.spawn(["bun", "-e", `await import(${JSON.stringify(file)});`], {
          env: BUNDLE_IMPORT_ENV,
          stdout: "ignore",
        });
        await child.exited;
        const usage = child.resourceUsage();
        cpu.get(name)?.push(usage === undefined ? Number.NaN : Number(usage.cpuTime.total) / 1000);
      }
    }
    const floor = median(cpu.get("bun, empty module") ?? []);
    console.log(`CPU ms to import each part alone, median [min-max] of ${ROUNDS} alternating rounds`);
    console.log(`${"part".padEnd(30)} ${"CPU ms".padStart(14)} ${"above bun".padStart(10)}`);
    for (const [name, values] of cpu) {
      const [low, high] = [Math.min(...values).toFixed(0), Math.max(...values).toFixed(0)];
      const range = `${median(values).toFixed(0)} [${low}-${high}]`;
      console.log(`${name.padEnd(30)} ${range.padStart(14)} ${(median(values) - floor).toFixed(0).padStart(10)}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) await printFloor();
