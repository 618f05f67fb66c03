/**
 * Cold starts of the deployment bundles, shared by bench/cold-start.ts and tools/cold-start-budget.ts: each
 * function bundle of `bun run build` beside a bare Elysia bundle, the Deno bundle beside a bare Deno.serve,
 * in alternating rounds. A run is process start to the first answer of GET /health/live (200 from health,
 * the function's enveloped 404 from the others: both come after the runtime opened), on the production
 * drivers: postgres.js over a migrated scratch database and @upstash/redis through the local gateway.
 */
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createScratchDatabase, GATEWAY_TOKEN, openTestDatabase, upstashGatewayUrl } from "../test/backends.ts";
import { freePort } from "../test/free-port.ts";
import { buildDenoBundle } from "../tools/build-deno.ts";
import { buildVercelOutput, VERCEL_OUTPUT_DIR } from "../tools/build-vercel.ts";

const ROOT = join(import.meta.dir, "..");
const GIVE_UP_MS = 60_000;

export interface Sample {
  wallMs: number;
  cpuMs: number;
  /** Resident memory once the first answer came back: what an instance holds before serving traffic. */
  rssMiB: number;
}

export interface ColdStartRow {
  name: string;
  /** The bare peer the row is compared with: "elysia" or "deno". */
  peer: "elysia" | "deno";
  bytes: number;
  samples: Sample[];
}

interface Target {
  name: string;
  peer: ColdStartRow["peer"] | undefined;
  bytes: number;
  command: (port: number) => string[];
  env: (port: number) => Record<string, string>;
}

/** Resident memory of a running process (Linux), NaN where /proc is not there. */
function residentMiB(pid: number): number {
  try {
    const kib = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib === undefined ? Number.NaN : Number(kib) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** Starts `command`, polls /health/live until the app answers (any status but a connection error or 5xx). */
async function timeToFirstAnswer(target: Target, cwd: string): Promise<Sample> {
  const port = freePort();
  const started = performance.now();
  const child = Bun.spawn(target.command(port), {
    cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LOG_LEVEL: "error", ...target.env(port) },
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${target.name} exited with ${child.exitCode} before answering`);
      const status = await fetch(`http://127.0.0.1:${port}/health/live`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200 || status === 404) break;
      if (status >= 500) throw new Error(`${target.name} answered ${status}`);
      if (performance.now() - started > GIVE_UP_MS) throw new Error(`${target.name} never answered`);
      await Bun.sleep(2);
    }
    const wallMs = performance.now() - started;
    const rssMiB = residentMiB(child.pid);
    child.kill("SIGKILL");
    await child.exited;
    const usage = child.resourceUsage();
    return { wallMs, cpuMs: usage === undefined ? Number.NaN : Number(usage.cpuTime.total) / 1000, rssMiB };
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
}

export const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

const serveBundle = (file: string) => (port: number) => [
  "bun",
  "-e",
  `const m = await import(${JSON.stringify(file)}); Bun.serve({ port: ${port}, fetch: (r) => m.default.fetch(r) });`,
];

/** The Deno executable the npm package installs beside its launcher on first use. */
export async function denoExecutable(): Promise<string> {
  const exe = join(ROOT, "node_modules", "deno", "deno");
  if (!existsSync(exe)) await Bun.spawn([join(ROOT, "node_modules", ".bin", "deno"), "--version"]).exited;
  return exe;
}

export interface ColdStartOptions {
  rounds: number;
  /** Leave out the Deno rows (the budget check measures only the Vercel functions). */
  deno: boolean;
}

/** Builds everything, then runs `rounds` rounds, each starting every target once in turn. */
export interface ProductionScratch {
  /** The production variables: postgres.js on a migrated scratch database, Upstash through the gateway. */
  env: Record<string, string>;
  drop(): Promise<void>;
}

/** A migrated scratch database and the production environment that points at it and the test Redis. */
export async function openProductionScratch(): Promise<ProductionScratch> {
  const scratch = await createScratchDatabase();
  const migrating = await openTestDatabase("postgres", undefined, scratch.url);
  await migrating.migrate();
  await migrating.close();
  const env = {
    NODE_ENV: "production",
    DATABASE_URL: scratch.url,
    DATABASE_DRIVER: "postgres",
    UPSTASH_REDIS_REST_URL: await upstashGatewayUrl(),
    UPSTASH_REDIS_REST_TOKEN: GATEWAY_TOKEN,
    ENCRYPTION_KEYS: `v1:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`,
    TRUST_PROXY: "vercel",
  };
  return { env, drop: () => scratch.drop() };
}

export async function measureColdStarts({ rounds, deno }: ColdStartOptions): Promise<ColdStartRow[]> {
  if (process.env.TEST_POSTGRES_URL === undefined || process.env.TEST_REDIS_URL === undefined)
    throw new Error("needs TEST_POSTGRES_URL and TEST_REDIS_URL (`.ci/start-services`)");
  const work = mkdtempSync(join(tmpdir(), "rampart-cold-"));
  const scratch = await openProductionScratch();
  try {
    const productionEnv = scratch.env;
    await buildVercelOutput();
    const hello = join(work, "hello.ts");
    writeFileSync(
      hello,
      `import { Elysia } from "${join(ROOT, "node_modules/elysia")}";\nexport default new ` +
        `Elysia().get("/health/live", () => ({ status: "live" }));\n`,
    );
    const built = await Bun.build({
      entrypoints: [hello],
      outdir: work,
      target: "bun",
      minify: true,
      naming: "hello.mjs",
    });
    if (!built.success) throw new AggregateError(built.logs);
    const functionsDir = join(VERCEL_OUTPUT_DIR, "functions");
    const targets: Target[] = [
      {
        name: "bare Elysia",
        peer: undefined,
        bytes: statSync(join(work, "hello.mjs")).size,
        command: serveBundle(join(work, "hello.mjs")),
        env: () => ({}),
      },
      ...readdirSync(functionsDir).map((dir): Target => {
        const file = join(functionsDir, dir, "index.mjs");
        // The size counts the on-demand chunks too, so weight cannot hide in them.
        const scripts = readdirSync(join(functionsDir, dir)).filter((name) => name.endsWith(".mjs"));
        return {
          name: dir.replace(/\.func$/, ""),
          peer: "elysia",
          bytes: scripts.reduce((sum, name) => sum + statSync(join(functionsDir, dir, name)).size, 0),
          command: serveBundle(file),
          env: () => productionEnv,
        };
      }),
    ];
    if (deno) {
      const exe = await denoExecutable();
      // Run from the empty work directory, as deployed: nothing beside the bundle to resolve a package from.
      copyFileSync(await buildDenoBundle(), join(work, "main.js"));
      writeFileSync(join(work, "bare.js"), `Deno.serve(() => Response.json({ status: "live" }));\n`);
      const denoRun = (file: string) => () => [exe, "run", "--allow-net", "--allow-env", join(work, file)];
      const address = (port: number) => ({ DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}` });
      targets.push(
        { name: "bare Deno.serve", peer: undefined, bytes: 0, command: denoRun("bare.js"), env: address },
        {
          name: "deno bundle",
          peer: "deno",
          bytes: statSync(join(work, "main.js")).size,
          command: denoRun("main.js"),
          env: (port) => ({ ...productionEnv, TRUST_PROXY: "none", ...address(port) }),
        },
      );
    }
    const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const target of targets) samples.get(target.name)?.push(await timeToFirstAnswer(target, work));
    }
    return targets.map((t) => ({
      name: t.name,
      peer: t.peer ?? (t.name === "bare Elysia" ? "elysia" : "deno"),
      bytes: t.bytes,
      samples: samples.get(t.name) ?? [],
    }));
  } finally {
    await scratch.drop();
    rmSync(work, { recursive: true, force: true });
  }
}
