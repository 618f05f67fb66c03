/**
 * Where a cold start's CPU goes, phase by phase: the health function and the Deno bundle, each rebuilt with an
 * entry that runs createServerlessApp's steps one at a time (same modules, minified as the deployment bundles
 * are), in a fresh process per run, reading process.cpuUsage() between steps. The bare peers run beside them
 * in alternating rounds. Needs the test PostgreSQL and Redis: `.ci/start-services`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EMBEDDED_DATABASE_PACKAGES } from "../tools/bundle-options.ts";
import { routeGroupFiles } from "../tools/route-groups.ts";
import { denoExecutable, median, openProductionScratch } from "./cold-start-runs.ts";

const ROOT = join(import.meta.dir, "..");
const ROUNDS = Number(process.env.COLD_START_RUNS ?? 9);
const PHASES = [
  "process start -> entry runs",
  "bundle imported",
  "config loaded",
  "runtime opened (db + store clients)",
  "signing key checked (db)",
  "app built",
  "settings first poll (store)",
  "first answer",
] as const;

const source = (file: string) => JSON.stringify(join(ROOT, file));

/** The steps of createServerlessApp's first request, marked one by one (lib/serverless/serverless-app.ts). */
function phasedEntry(groupFiles: string[], env: string): string {
  return [
    `import ${source("lib/core/arktype-jitless.ts")};`,
    ...groupFiles.map((file, i) => `import group${i} from ${JSON.stringify(file)};`),
    `import { loadConfigOrThrow } from ${source("lib/serverless/serverless-app.ts")};`,
    `import { openRuntime } from ${source("lib/runtime/runtime.ts")};`,
    `import { assertSigningKeyUsable } from ${source("lib/auth/signing-key-check.ts")};`,
    `import { buildApp } from ${source("lib/http/app.ts")};`,
    `export async function run(mark) {`,
    `  const config = loadConfigOrThrow(${env});`,
    `  mark();`,
    `  const runtime = await openRuntime(config);`,
    `  mark();`,
    `  await assertSigningKeyUsable(runtime);`,
    `  mark();`,
    `  const app = buildApp(runtime, [${groupFiles.map((_, i) => `group${i}`).join(", ")}]);`,
    `  mark();`,
    `  await runtime.settings.poll();`,
    `  mark();`,
    `  const response = await app.fetch(new Request("http://localhost/health/live"));`,
    `  await response.text();`,
    `  mark();`,
    `}`,
    "",
  ].join("\n");
}

// Reads the process's CPU at the wrapper's first line (runtime start-up), after the import, then at each mark.
const wrapper = (bundle: string) =>
  [
    `import process from "node:process";`,
    `const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };`,
    `const marks = [cpu()];`,
    `const m = await import(${JSON.stringify(bundle)});`,
    `marks.push(cpu());`,
    `if (m.run !== undefined) await m.run(() => marks.push(cpu()));`,
    `else { const r = await m.default.fetch(new Request("http://localhost/health/live")); await r.text(); }`,
    `marks.push(cpu());`,
    `console.log(JSON.stringify(marks));`,
    `process.exit(0);`,
    "",
  ].join("\n");

async function bundle(entry: string, outdir: string, name: string, target: "bun" | "node"): Promise<string> {
  const built = await Bun.build({
    entrypoints: [entry],
    outdir,
    target,
    format: "esm",
    minify: true,
    naming: name,
    external: EMBEDDED_DATABASE_PACKAGES,
  });
  if (!built.success) throw new AggregateError(built.logs);
  return join(outdir, name);
}

async function runMarks(command: string[], env: Record<string, string>): Promise<number[]> {
  const child = Bun.spawn(command, { env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "error", ...env } });
  const out = await new Response(child.stdout).text();
  if ((await child.exited) !== 0) throw new Error(`${command.join(" ")} failed: ${out}`);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "[]") as number[];
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "rampart-phases-"));
  const scratch = await openProductionScratch();
  try {
    const env = scratch.env;
    const write = (name: string, text: string) => {
      writeFileSync(join(work, name), text);
      return join(work, name);
    };
    const health = routeGroupFiles().filter((file) => file.endsWith("/health.ts"));
    const healthBundle = await bundle(
      write("health.ts", phasedEntry(health, "process.env")),
      work,
      "health.mjs",
      "bun",
    );
    const denoBundle = await bundle(
      write("deno.ts", phasedEntry(routeGroupFiles(), "process.env")),
      work,
      "deno.mjs",
      "node",
    );
    const elysia = await bundle(
      write(
        "hello.ts",
        `import { Elysia } from ${source("node_modules/elysia")};\n` +
          `export default new Elysia().get("/health/live", () => ({ status: "live" }));\n`,
      ),
      work,
      "hello.mjs",
      "bun",
    );
    write("bare-deno.mjs", `export default { fetch: () => Response.json({ status: "live" }) };\n`);
    const deno = await denoExecutable();
    const targets = [
      { name: "bare Elysia", command: ["bun", write("w-elysia.mjs", wrapper(elysia))] },
      { name: "health", command: ["bun", write("w-health.mjs", wrapper(healthBundle))] },
      { name: "bare Deno", command: [deno, "run", "-A", write("w-bare.mjs", wrapper(join(work, "bare-deno.mjs")))] },
      { name: "deno bundle", command: [deno, "run", "-A", write("w-deno.mjs", wrapper(denoBundle))] },
    ];
    const runs = new Map<string, number[][]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of targets) runs.get(target.name)?.push(await runMarks(target.command, env));
    }
    console.log(`CPU ms per phase, median [min-max] of ${ROUNDS} alternating rounds (production configuration)`);
    console.log(`${"phase".padEnd(38)}${targets.map((t) => t.name.padStart(18)).join("")}`);
    for (let phase = 0; phase < PHASES.length; phase++) {
      const cells = targets.map((t) => {
        const all = runs.get(t.name) ?? [];
        // The bare peers have only start, import and first answer: their answer lands on the last row.
        const index = (all[0]?.length ?? 0) === 3 && phase > 1 ? (phase === PHASES.length - 1 ? 2 : -1) : phase;
        if (index < 0) return "-".padStart(18);
        const values = all.map((marks) => (marks[index] ?? 0) - (index === 0 ? 0 : (marks[index - 1] ?? 0)));
        const range = `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}`;
        return `${median(values).toFixed(0)} [${range}]`.padStart(18);
      });
      console.log(`${PHASES[phase]?.padEnd(38)}${cells.join("")}`);
    }
    const totals = targets.map((t) =>
      `${median((runs.get(t.name) ?? []).map((m) => m.at(-1) ?? 0)).toFixed(0)}`.padStart(18),
    );
    console.log(`${"total".padEnd(38)}${totals.join("")}`);
  } finally {
    await scratch.drop();
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(0);
}

await main();
