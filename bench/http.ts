/**
 * Throughput of one small JSON route (GET /v1/ping) served four ways: bare Elysia, Rampart's full guard
 * chain, Hono with equivalent middleware (all on Bun) and Express 5 with helmet/cors/rate-limit on Node;
 * then an authenticated route (GET /v1/whoami) on Rampart with an access token and with an API key, and on
 * Hono behind hono/jwt (`--no-auth` leaves these out).
 * Each server is its own child process; wrk (autocannon when wrk is missing) loads it over loopback.
 * `--breakdown` adds Rampart variants (no log sink, no rate limit, stdout logging, no PGlite in the process)
 * to price each part. Besides req/s, the server's own CPU time per request is reported: it does not depend
 * on which side (server or wrk) was the bottleneck.
 * The machine's speed drifts by tens of percent over minutes, so every stack is measured in each of
 * HTTP_BENCH_ROUNDS rounds (3), the stacks taking turns; a ratio is taken within each round, between
 * measurements a minute apart at most, and the median over rounds is reported with its range.
 */
import { rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../test/free-port.ts";
import { mintHonoJwt } from "./http-stacks/hono-jwt.ts";
import type { BenchCredentials } from "./http-stacks/rampart-credentials.ts";
import {
  type Credential,
  checkStack,
  type PresentedCredential,
  type Route,
  type Stack,
} from "./http-stacks/stack-check.ts";

const ROOT = join(import.meta.dir, "..");
const STACKS_DIR = join(import.meta.dir, "http-stacks");
const RESULTS_FILE = join(import.meta.dir, "results", "http.txt");

const DURATION_S = Number(process.env.HTTP_BENCH_SECONDS ?? 5);
const ROUNDS = Math.max(1, Number(process.env.HTTP_BENCH_ROUNDS ?? 3));
const WARMUP_S = Number(process.env.HTTP_BENCH_WARMUP_SECONDS ?? 2);
const CONNECTIONS = Number(process.env.HTTP_BENCH_CONNECTIONS ?? 32);
const BREAKDOWN = process.argv.includes("--breakdown");
const AUTH = !process.argv.includes("--no-auth");
// keyVsPublic: the issue's "an API key on a warm cache costs little more than a public route", as a number.
const GOALS = { vsElysia: 0.75, vsHono: 1.5, keyVsPublic: 0.9 };

const PING: Route = { path: "/v1/ping" };

interface BunStackOptions {
  env?: Record<string, string>;
  guarded?: boolean;
  route?: Route;
}

const bunStack = (
  key: string,
  label: string,
  file: string,
  { env = {}, guarded = true, route = PING }: BunStackOptions = {},
): Stack => ({
  key,
  label,
  command: ["bun", join(STACKS_DIR, file)],
  env: { ...env, ...route.credential?.env },
  guarded,
  rateLimited: guarded && env.BENCH_RATE_LIMIT !== "off",
  route,
});

/** Credentials the Rampart server mints through the real account and key code, read from the file it writes. */
function rampartCredential(which: keyof BenchCredentials): Credential {
  const file = join(tmpdir(), `rampart-bench-${process.pid}-${which}.json`);
  return {
    callerKind: which === "accessToken" ? "user" : "api_key",
    env: { BENCH_CREDENTIALS_FILE: file },
    async authorization() {
      const credentials = (await Bun.file(file).json()) as BenchCredentials;
      await rm(file);
      return `Bearer ${credentials[which]}`;
    },
  };
}

// The key pair and token of Hono's JWT route. Both Hono stacks get the verification, so like Rampart's its
// public and authenticated figures come from the same app.
const honoJwt = await mintHonoJwt();
const HONO_JWT_ENV = { BENCH_JWT_VERIFICATION: JSON.stringify(honoJwt.verification) };
const HONO_JWT: Credential = {
  callerKind: "user",
  env: HONO_JWT_ENV,
  authorization: async () => `Bearer ${honoJwt.token}`,
};

// What a deployed function runs: a database client that connects on its first query (the ping route makes
// none). PGlite, bun dev's embedded database, lives in the serving process and its heap lengthens GC
// pauses (p99 about 3x); the authenticated rows need its data, so they and their public baseline use it.
const PRODUCTION_DB = { BENCH_DB: "postgres" };

const STACKS: Stack[] = [
  bunStack("elysia", "bare Elysia (Bun)", "elysia.ts", { guarded: false }),
  bunStack("bun-headers", "Bun.serve + the same headers, no logic", "bun-headers.ts"),
  bunStack("rampart", "Rampart, full chain (Bun)", "rampart.ts", { env: PRODUCTION_DB }),
  bunStack("hono", "Hono + middleware (Bun)", "hono.ts", { env: HONO_JWT_ENV }),
  {
    key: "express",
    label: "Express 5 + helmet/cors/erl (Node)",
    command: ["node", join(STACKS_DIR, "express.mjs")],
    guarded: true,
    rateLimited: true,
    route: PING,
  },
];
const WHOAMI = "/v1/whoami";
const AUTH_STACKS: Stack[] = [
  bunStack("rampart-pglite", "Rampart, public route, PGlite in process", "rampart.ts"),
  bunStack("rampart-jwt", "Rampart, access token (EdDSA JWT)", "rampart.ts", {
    route: { path: WHOAMI, credential: rampartCredential("accessToken") },
  }),
  bunStack("rampart-key", "Rampart, API key (warm cache)", "rampart.ts", {
    route: { path: WHOAMI, credential: rampartCredential("apiKey") },
  }),
  bunStack("hono-jwt", "Hono + middleware + hono/jwt (EdDSA)", "hono.ts", {
    route: { path: WHOAMI, credential: HONO_JWT },
  }),
];
const BREAKDOWN_STACKS: Stack[] = [
  bunStack("rampart-nolog", "Rampart, log sink: none", "rampart.ts", {
    env: { ...PRODUCTION_DB, BENCH_LOG_SINK: "none" },
  }),
  bunStack("rampart-norl", "Rampart, no rate limit rule", "rampart.ts", {
    env: { ...PRODUCTION_DB, BENCH_RATE_LIMIT: "off" },
  }),
  bunStack("rampart-bare", "Rampart, no log sink, no rate limit", "rampart.ts", {
    env: { ...PRODUCTION_DB, BENCH_LOG_SINK: "none", BENCH_RATE_LIMIT: "off" },
  }),
  bunStack("rampart-stdout", "Rampart, log to stdout (/dev/null)", "rampart.ts", {
    env: { ...PRODUCTION_DB, BENCH_LOG_SINK: "stdout" },
  }),
];

interface LoadResult {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  timeouts: number;
  non2xx: number;
}

interface Measurement extends LoadResult {
  /** Server process CPU (all threads, user + system) over the measured window, in seconds. */
  serverCpuS: number;
  /** CPU used by everything else on the machine meanwhile (not the server, not the load generator). */
  otherCpuS: number;
}

// On two or more cores the server and the load generator each get a core of their own.
const pin = Bun.which("taskset") !== null && cpus().length >= 2;
const pinned = (cpu: number, command: string[]) => (pin ? ["taskset", "-c", String(cpu), ...command] : command);
// HTTP_BENCH_LOAD_TOOL=autocannon forces the fallback (to check it still works where wrk is installed).
const wrk = process.env.HTTP_BENCH_LOAD_TOOL === "autocannon" ? null : Bun.which("wrk");
const loadTool = wrk === null ? "autocannon" : "wrk";
const running = new Set<Bun.Subprocess>();

/** Share of a core that other processes used while a stack was measured. */
const busyElsewhere = (r: Measurement) => r.otherCpuS / (r.durationUs / 1e6);
// Past this, a measurement is taken again (once) and the quieter one kept.
const DISTURBED = 0.25;

const CLOCK_TICKS_PER_S = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** utime + stime of a whole process (every thread), from /proc; Linux only. */
async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** CPU seconds the whole machine spent busy (not idle, not waiting on I/O) since boot. */
async function machineBusySeconds(): Promise<number> {
  const firstLine = (await Bun.file("/proc/stat").text()).split("\n", 1)[0] ?? "";
  // cpu  user nice system idle iowait irq softirq steal ...
  const ticks = firstLine.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return (ticks.reduce((sum, t) => sum + t, 0) - idle) / CLOCK_TICKS_PER_S;
}

function versionOf(command: string[]): string {
  const child = Bun.spawnSync(command, { stdout: "pipe", stderr: "pipe" });
  return `${child.stdout.toString()}${child.stderr.toString()}`.split("\n")[0]?.trim() ?? "?";
}

async function waitUntilServing(url: string, child: Bun.Subprocess, label: string): Promise<void> {
  const started = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${label} exited with ${child.exitCode} before serving`);
    const status = await fetch(url).then(
      (r) => r.status,
      () => 0,
    );
    if (status !== 0) return;
    if (performance.now() - started > 30_000) throw new Error(`${label} did not answer within 30 s`);
    await Bun.sleep(20);
  }
}

async function load(
  url: string,
  seconds: number,
  presented: PresentedCredential | undefined,
): Promise<LoadResult & { loadCpuS: number }> {
  const command =
    wrk === null
      ? ["node", join(STACKS_DIR, "autocannon.mjs"), url, String(CONNECTIONS), String(seconds)]
      : [
          wrk,
          "-t1",
          `-c${CONNECTIONS}`,
          `-d${seconds}s`,
          "--timeout",
          "5s",
          "-s",
          join(STACKS_DIR, "browser.lua"),
          url,
        ];
  // Both load generators read the credential from the environment.
  const env = presented === undefined ? process.env : { ...process.env, BENCH_AUTHORIZATION: presented.authorization };
  const child = Bun.spawn(pinned(0, command), { cwd: ROOT, env, stdout: "pipe", stderr: "inherit" });
  running.add(child);
  const output = await new Response(child.stdout).text();
  const exitCode = await child.exited;
  running.delete(child);
  if (exitCode !== 0) throw new Error(`${loadTool} failed:\n${output}`);
  const line = output.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (line === undefined) throw new Error(`${loadTool} printed no result:\n${output}`);
  const loadCpuS = Number(child.resourceUsage()?.cpuTime.total ?? 0n) / 1e6;
  return { ...(JSON.parse(line.slice("BENCH_RESULT ".length)) as LoadResult), loadCpuS };
}

async function measure(stack: Stack): Promise<Measurement> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}${stack.route.path}`;
  const child = Bun.spawn(pinned(1, stack.command), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: String(port), ...stack.env },
    stdout: "ignore",
    stderr: "inherit",
  });
  running.add(child);
  try {
    await waitUntilServing(url, child, stack.label);
    const { credential } = stack.route;
    const presented =
      credential === undefined
        ? undefined
        : { callerKind: credential.callerKind, authorization: await credential.authorization() };
    await checkStack(url, stack, presented);
    await load(url, WARMUP_S, presented);
    // Other work on the machine (a test run, a type check) steals the server's or wrk's core: when it
    // did, measure once more and keep the quieter run.
    let kept: Measurement | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (kept !== undefined && busyElsewhere(kept) <= DISTURBED) break;
      const [cpuBefore, busyBefore] = [await cpuSecondsOf(child.pid), await machineBusySeconds()];
      const { loadCpuS, ...result } = await load(url, DURATION_S, presented);
      const serverCpuS = (await cpuSecondsOf(child.pid)) - cpuBefore;
      const otherCpuS = Math.max(0, (await machineBusySeconds()) - busyBefore - serverCpuS - loadCpuS);
      const failures = result.connectErrors + result.readErrors + result.writeErrors + result.timeouts + result.non2xx;
      if (failures > 0)
        throw new Error(`${stack.label}: ${failures} failed requests under load ${JSON.stringify(result)}`);
      if (child.exitCode !== null) throw new Error(`${stack.label} died under load`);
      const measurement = { ...result, serverCpuS, otherCpuS };
      if (kept === undefined || busyElsewhere(measurement) < busyElsewhere(kept)) kept = measurement;
    }
    return kept as Measurement;
  } finally {
    child.kill("SIGKILL");
    await child.exited;
    running.delete(child);
  }
}

// Interrupted mid-run: take the server and the load generator down with us.
process.on("SIGINT", () => {
  for (const child of running) child.kill("SIGKILL");
  process.exit(130);
});

const stacks = [...STACKS, ...(AUTH ? AUTH_STACKS : []), ...(BREAKDOWN ? BREAKDOWN_STACKS : [])];
const results = new Map<string, Measurement[]>(stacks.map((stack) => [stack.key, []]));
for (let round = 1; round <= ROUNDS; round++) {
  for (const stack of stacks) {
    process.stderr.write(`round ${round}/${ROUNDS}: ${stack.label}...\n`);
    results.get(stack.key)?.push(await measure(stack));
  }
}

const rps = (r: Measurement) => r.requests / (r.durationUs / 1e6);
// Server CPU per request: independent of whether the server or the load generator was the bottleneck.
const cpuUsPerRequest = (r: Measurement) => (r.serverCpuS * 1e6) / r.requests;
const utilisation = (r: Measurement) => r.serverCpuS / (r.durationUs / 1e6);
const ms = (us: number) => `${(us / 1000).toFixed(2)} ms`;
const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const runsOf = (key: string) => results.get(key) as Measurement[];
/** The round whose CPU/req is the median, for the table (its req/s and latencies come from the same run). */
const get = (key: string) => {
  const runs = runsOf(key);
  const middle = median(runs.map(cpuUsPerRequest));
  return runs.reduce((best, r) =>
    Math.abs(cpuUsPerRequest(r) - middle) < Math.abs(cpuUsPerRequest(best) - middle) ? r : best,
  );
};
const perRound = (a: string, b: string, of: (x: Measurement, y: Measurement) => number) =>
  runsOf(a).map((r, i) => of(r, runsOf(b)[i] as Measurement));
const rpsRatios = (a: string, b: string) => perRound(a, b, (x, y) => rps(x) / rps(y));
const cpuRatios = (a: string, b: string) => perRound(a, b, (x, y) => cpuUsPerRequest(y) / cpuUsPerRequest(x));
const range = (values: number[]) =>
  values.length < 2 ? "" : ` (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})`;
const verdict = (value: number, goal: number) =>
  `${value.toFixed(2)}x  (goal >= ${goal}x: ${value >= goal ? "met" : "MISSED"})`;
const ratioLine = (label: string, a: string, b: string, goal?: number) => {
  const byRps = median(rpsRatios(a, b));
  return (
    `${label.padEnd(28)}req/s ${goal === undefined ? `${byRps.toFixed(2)}x` : verdict(byRps, goal)}` +
    `${range(rpsRatios(a, b))}; by CPU/req ${median(cpuRatios(a, b)).toFixed(2)}x${range(cpuRatios(a, b))}; p99 ` +
    `${ms(get(a).p99Us)} vs ${ms(get(b).p99Us)}`
  );
};
const flags = [...(AUTH ? [] : ["--no-auth"]), ...(BREAKDOWN ? ["--breakdown"] : [])];
// "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." -> "wrk debian/4.1.0-3+b2"
const loadToolVersion =
  wrk === null
    ? "autocannon (wrk not installed or not chosen)"
    : versionOf([wrk, "--version"]).split(" ").slice(0, 2).join(" ");
// Below ~90% of a core the server was waiting on the load generator, so its req/s is a floor.
const loadBound = stacks.filter((s) => utilisation(get(s.key)) < 0.9);

const lines = [
  `# bun run bench:http${flags.length > 0 ? ` -- ${flags.join(" ")}` : ""} (${new Date().toISOString()})`,
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), bun ${Bun.version}, node ` +
    `${versionOf(["node", "--version"])}`,
  `load: ${loadToolVersion}, 1 thread, ${CONNECTIONS} connections, ${DURATION_S}s after a ${WARMUP_S}s warm-up, ` +
    (pin ? "server pinned to CPU 1, load generator to CPU 0 (taskset)" : "not pinned"),
  `rounds: ${ROUNDS}, the stacks taking turns; each row is the round with the median CPU/req (range of all ` +
    `rounds beside it), each ratio the median of the ratios within a round (range in brackets)`,
  "requests: GET /v1/ping with Origin https://app.example.com and browser headers; X-Request-ID on every other request",
  "log: one JSON line per request to /dev/null, through a buffered Bun FileSink (Bun stacks) or " +
    "fs.createWriteStream (Node)",
  "database: Rampart rows use the production configuration (a postgres.js client, never queried by /v1/ping); " +
    "the authenticated rows and their public baseline run on PGlite in the process",
  "rate limit: 1e9 per minute per client address (never refuses): Rampart's in-process limiter, " +
    "hono-rate-limiter MemoryStore, express-rate-limit MemoryStore",
  ...(AUTH
    ? [
        `authenticated: GET ${WHOAMI} with the same headers plus Authorization: Bearer, the same rate limit ` +
          `rule, served by the same app as the public route`,
        "  Rampart (user-or-key): an EdDSA access token (signature, claims, session revocation check) or an " +
          "API key (checksum, hash, in-process cache, warm after the first request)",
        "  Hono: hono/jwt, EdDSA, checking iss, aud, typ, exp and iat; public key imported once",
      ]
    : []),
  "",
  `${"stack".padEnd(38)}${"req/s".padStart(9)}${"p50".padStart(10)}${"p99".padStart(10)}` +
    `${"server CPU".padStart(12)}${"CPU/req".padStart(10)}${"other CPU".padStart(11)}` +
    `${"CPU/req range".padStart(16)}`,
  ...stacks.map((s) => {
    const r = get(s.key);
    const mark = loadBound.includes(s) ? " *" : "";
    return (
      `${s.label.padEnd(38)}${Math.round(rps(r)).toString().padStart(9)}${ms(r.p50Us).padStart(10)}` +
      `${ms(r.p99Us).padStart(10)}${`${Math.round(utilisation(r) * 100)}%`.padStart(12)}` +
      `${`${cpuUsPerRequest(r).toFixed(1)} us`.padStart(10)}` +
      `${`${Math.round(busyElsewhere(r) * 100)}%`.padStart(11)}` +
      `${range(runsOf(s.key).map(cpuUsPerRequest)).padStart(16)}${mark}`
    );
  }),
  ...(loadBound.length > 0
    ? [
        "* server below 90% of a core: it waited on the load generator (or lost its core to other work), so " +
          "req/s understates it; compare CPU/req",
      ]
    : []),
  ...(stacks.some((s) => runsOf(s.key).some((r) => busyElsewhere(r) > DISTURBED))
    ? [
        `WARNING: other processes used over ${DISTURBED * 100}% of a core during some runs, even after a retry ` +
          `(other CPU column); those figures are disturbed`,
      ]
    : []),
  "",
  ratioLine("Rampart / bare Elysia", "rampart", "elysia", GOALS.vsElysia),
  ratioLine("headers alone / bare Elysia", "bun-headers", "elysia"),
  ratioLine("Rampart / Hono", "rampart", "hono", GOALS.vsHono),
  ratioLine("Rampart / Express", "rampart", "express"),
  ...(AUTH
    ? [
        ratioLine("Rampart JWT / Hono JWT", "rampart-jwt", "hono-jwt"),
        ratioLine("Rampart API key / public", "rampart-key", "rampart-pglite", GOALS.keyVsPublic),
        ratioLine("Rampart JWT / public", "rampart-jwt", "rampart-pglite"),
        ratioLine("Hono JWT / public", "hono-jwt", "hono"),
      ]
    : []),
];
const text = `${lines.join("\n")}\n`;
process.stdout.write(text);
await Bun.write(RESULTS_FILE, text);
