/**
 * The floor of the health function's cold start: its bundle rebuilt with one required part removed at a time
 * (the signing-key check, the store client and its settings poll, the database driver, our whole pipeline),
 * CPU from process start to the first answer of GET /health/live, beside a bare Elysia bundle in alternating
 * rounds. Built as `bun run build` builds (minified, split). Needs the test PostgreSQL and Redis.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FUNCTION_BUNDLE_OPTIONS } from "../tools/bundle-options.ts";
import { median, openProductionScratch } from "./cold-start-runs.ts";

const ROOT = join(import.meta.dir, "..");
const ROUNDS = Number(process.env.COLD_START_RUNS ?? 9);
const source = (file: string) => JSON.stringify(join(ROOT, file));

interface Removal {
  signingKeyCheck: boolean;
  store: boolean;
  driver: boolean;
}

// createServerlessApp's first request (lib/serverless/serverless-app.ts) with the parts `keep` names.
function healthEntry(keep: Removal): string {
  const parts = [
    keep.store ? "" : "store: new MemoryStore()",
    keep.driver ? "" : "db: { driver: 'postgres', primary: {}, read: {}, close: async () => {} }",
  ].filter((part) => part !== "");
  return [
    `import ${source("lib/core/arktype-jitless.ts")};`,
    `import group from ${source("functions/health.ts")};`,
    `import { loadConfigOrThrow } from ${source("lib/serverless/serverless-app.ts")};`,
    `import { openRuntime } from ${source("lib/runtime/runtime.ts")};`,
    `import { assertSigningKeyUsable } from ${source("lib/auth/signing-key-check.ts")};`,
    `import { MemoryStore } from ${source("lib/store/memory-store.ts")};`,
    `import { buildApp } from ${source("lib/http/app.ts")};`,
    `const runtime = await openRuntime(loadConfigOrThrow(process.env), { ${parts.join(", ")} });`,
    keep.signingKeyCheck ? "await assertSigningKeyUsable(runtime);" : "",
    `const app = buildApp(runtime, [group]);`,
    keep.store ? "await runtime.settings.poll();" : "",
    `export default { fetch: (request) => app.fetch(request) };`,
    "",
  ].join("\n");
}

const VARIANTS: Record<string, string> = {
  "bare Bun": `export default { fetch: () => Response.json({ status: "live" }) };\n`,
  "bare Elysia":
    `import { Elysia } from ${source("node_modules/elysia")};\n` +
    `export default new Elysia().get("/health/live", () => ({ status: "live" }));\n`,
  health: healthEntry({ signingKeyCheck: true, store: true, driver: true }),
  "- signing-key check": healthEntry({ signingKeyCheck: false, store: true, driver: true }),
  "- check, store": healthEntry({ signingKeyCheck: false, store: false, driver: true }),
  "- check, store, driver": healthEntry({ signingKeyCheck: false, store: false, driver: false }),
};

// The process's CPU at the first answer, as the deployed handler produces it.
const wrapper = (bundle: string) =>
  [
    `import process from "node:process";`,
    `const m = await import(${JSON.stringify(bundle)});`,
    `const response = await m.default.fetch(new Request("http://localhost/health/live"));`,
    `if (response.status !== 200) throw new Error(String(response.status));`,
    `await response.text();`,
    `const u = process.cpuUsage();`,
    `console.log((u.user + u.system) / 1000);`,
    `process.exit(0);`,
    "",
  ].join("\n");

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "rampart-removals-"));
  const scratch = await openProductionScratch();
  try {
    const env = {
      PATH: process.env.PATH ?? "",
      LOG_LEVEL: "error",
      ...scratch.env,
    };
    const wrappers: Record<string, string> = {};
    for (const [index, [name, text]] of Object.entries(VARIANTS).entries()) {
      const dir = join(work, String(index));
      writeFileSync(join(work, `${index}.ts`), text);
      const built = await Bun.build({
        entrypoints: [join(work, `${index}.ts`)],
        outdir: dir,
        ...FUNCTION_BUNDLE_OPTIONS,
      });
      if (!built.success) throw new AggregateError(built.logs);
      wrappers[name] = join(work, `w${index}.mjs`);
      writeFileSync(wrappers[name], wrapper(join(dir, "index.mjs")));
    }
    const cpu = new Map<string, number[]>(Object.keys(VARIANTS).map((name) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, file] of Object.entries(wrappers)) {
        const child = Bun.spawn(["bun", file], { env });
        const out = await new Response(child.stdout).text();
        if ((await child.exited) !== 0) throw new Error(`${name} failed`);
        cpu.get(name)?.push(Number(out.trim()));
      }
    }
    const peer = median(cpu.get("bare Elysia") ?? []);
    console.log(`CPU ms, process start to first answer, median [min-max] of ${ROUNDS} alternating rounds`);
    console.log(`${"health bundle".padEnd(26)} ${"CPU ms".padStart(14)} ${"x Elysia".padStart(9)}`);
    for (const [name, values] of cpu) {
      const [low, high] = [Math.min(...values).toFixed(0), Math.max(...values).toFixed(0)];
      const range = `${median(values).toFixed(0)} [${low}-${high}]`;
      console.log(`${name.padEnd(26)} ${range.padStart(14)} ${(median(values) / peer).toFixed(2).padStart(9)}`);
    }
  } finally {
    await scratch.drop();
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(0);
}

await main();
