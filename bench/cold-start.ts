/**
 * Cold start, process start to first 200: one bundled Rampart function (GET /health/live) next to a bare
 * Elysia hello-world bundled the same way, alternating runs in one session; plus `bun dev` start-up
 * to /health/ready 200 on embedded defaults.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../test/free-port.ts";
import { buildVercelOutput, VERCEL_OUTPUT_DIR } from "../tools/build-vercel.ts";

const ROOT = join(import.meta.dir, "..");
const RUNS = Number(process.env.COLD_START_RUNS ?? 15);
const work = mkdtempSync(join(tmpdir(), "rampart-cold-"));

async function timeToFirst200(command: string[], path: string, env: Record<string, string>): Promise<number> {
  const port = freePort();
  const started = performance.now();
  const child = Bun.spawn(command, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", PORT: String(port), LOG_LEVEL: "error", ...env },
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`${command.join(" ")} exited with ${child.exitCode} before answering`);
      const status = await fetch(`http://127.0.0.1:${port}${path}`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) return performance.now() - started;
      if (performance.now() - started > 30_000) throw new Error(`${command.join(" ")} never answered 200`);
      await Bun.sleep(2);
    }
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

await buildVercelOutput();
const helloSource = join(work, "hello.ts");
writeFileSync(
  helloSource,
  `import { Elysia } from "${join(ROOT, "node_modules/elysia")}";\nexport default new ` +
    `Elysia().get("/health/live", () => ({ status: "live" }));\n`,
);
const built = await Bun.build({
  entrypoints: [helloSource],
  outdir: work,
  target: "bun",
  format: "esm",
  minify: true,
  naming: "hello.mjs",
});
if (!built.success) throw new AggregateError(built.logs);
const serveBundle = (file: string) =>
  `const m = await import(${JSON.stringify(file)}); Bun.serve({ port: Number(process.env.PORT), fetch: (r) => ` +
  `m.default.fetch(r) });`;
const rampartCmd = ["bun", "-e", serveBundle(join(VERCEL_OUTPUT_DIR, "functions", "health.func", "index.mjs"))];
const helloCmd = ["bun", "-e", serveBundle(join(work, "hello.mjs"))];
const benchEncryptionKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const productionEnv = {
  NODE_ENV: "production",
  DATABASE_URL: "postgres://app:secret@127.0.0.1:1/app",
  DATABASE_DRIVER: "postgres",
  ENCRYPTION_KEYS: `v1:${benchEncryptionKey}`,
};

const rampart: number[] = [];
const hello: number[] = [];
for (let i = 0; i < RUNS; i++) {
  hello.push(await timeToFirst200(helloCmd, "/health/live", {}));
  rampart.push(await timeToFirst200(rampartCmd, "/health/live", productionEnv));
}
const dev: number[] = [];
for (let i = 0; i < 3; i++) {
  const dataDir = join(work, `pglite-${i}`);
  dev.push(await timeToFirst200(["bun", "dev/server.ts"], "/health/ready", { PGLITE_DATA_DIR: dataDir }));
}
rmSync(work, { recursive: true, force: true });

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
console.log(`cold start, process start to first 200 (median of ${RUNS}, alternating):`);
console.log(`  bare Elysia hello-world bundle   ${fmt(median(hello))}`);
console.log(`  Rampart health function bundle   ${fmt(median(rampart))}`);
console.log(`  ratio Rampart / bare             ${(median(rampart) / median(hello)).toFixed(2)}x`);
console.log(
  `bun dev start-up to /health/ready 200 on PGlite (median of 3, each creating its database): ` +
    `${fmt(median(dev))} [${dev.map(fmt).join(", ")}]`,
);
