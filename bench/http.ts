/**
 * Throughput of one small JSON route (GET /v1/ping) served five ways: bare Elysia, Bun.serve sending the same
 * headers with no logic (the ceiling for any chain that sends them), Rampart's full guard chain, Hono with
 * equivalent middleware (all on Bun) and Express 5 with helmet/cors/rate-limit on Node; then an
 * authenticated route (GET /v1/whoami) on Rampart and on Hono, with one access token (a verified-token
 * cache's best case), with more distinct tokens than Rampart's cache holds (every request a miss), and
 * with an API key (`--no-auth` leaves these out; they need TEST_POSTGRES_URL, see .ci/start-services).
 * Each server is its own child process; wrk (autocannon when wrk is missing) loads it over loopback.
 * Every Bun stack logs through Rampart's production stdout sink, stdout going to /dev/null.
 * `--breakdown` adds Rampart variants (no log sink, no rate limit, a FileSink) to price each part.
 * Besides req/s, the server's own CPU time per request is reported: it does not depend on which side
 * (server or wrk) was the bottleneck. Rampart and Hono are also loaded at half of Hono's saturation rate
 * (p99 there), and the RSS of Rampart, bare Elysia and Hono is read at start and after 100k and 200k requests
 * (or as many as fit in HTTP_BENCH_MEMORY_SECONDS, 30, per server: the count reached is printed).
 * The machine's speed drifts by tens of percent over minutes, so every stack is measured in each of
 * HTTP_BENCH_ROUNDS rounds (3), the stacks taking turns; a ratio is taken within each round, and the
 * median over rounds is reported with its range. A round starts only while the run fits in
 * HTTP_BENCH_BUDGET_SECONDS (180, memory phase apart; at least 2 rounds for a range), and every phase has
 * a timeout, so a loaded machine makes the figures noisier, never the run endless. When other processes
 * took more than a quarter of a core during most rows, the figures are printed with a warning and no goal
 * verdicts.
 */
import { rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_ACCESS_TOKEN_VERIFIER } from "../lib/auth/access-token-verifier.ts";
import { createScratchDatabase } from "../test/backends.ts";
import { freePort } from "../test/free-port.ts";
import { mintHonoJwts } from "./http-stacks/hono-jwt.ts";
import type { BenchCredentials } from "./http-stacks/rampart-credentials.ts";
import { type Credential, checkStack, type Route, type Stack } from "./http-stacks/stack-check.ts";

const ROOT = join(import.meta.dir, "..");
const STACKS_DIR = join(import.meta.dir, "http-stacks");
const RESULTS_FILE = join(import.meta.dir, "results", "http.txt");

const DURATION_S = Number(process.env.HTTP_BENCH_SECONDS ?? 3);
const ROUNDS = Math.max(1, Number(process.env.HTTP_BENCH_ROUNDS ?? 3));
const WARMUP_S = Number(process.env.HTTP_BENCH_WARMUP_SECONDS ?? 1);
const CONNECTIONS = Number(process.env.HTTP_BENCH_CONNECTIONS ?? 32);
const BREAKDOWN = process.argv.includes("--breakdown");
const DATABASE_SERVER = process.env.TEST_POSTGRES_URL;
const AUTH = !process.argv.includes("--no-auth") && DATABASE_SERVER !== undefined;
// More distinct tokens than Rampart's verified-token cache holds: cycled in order, every one is a miss.
const UNCACHED_TOKENS = Math.ceil(DEFAULT_ACCESS_TOKEN_VERIFIER.maxEntries * 1.2);
const MEMORY_CHECKPOINTS = [100_000, 200_000];
// Per server: each checkpoint gets its share of this, and is read when reached or when its share runs out.
const MEMORY_BUDGET_S = Number(process.env.HTTP_BENCH_MEMORY_SECONDS ?? 30);
// Rounds (server starts, warm-ups, measurements, paced runs) start only while the run fits in this.
const BUDGET_S = Number(process.env.HTTP_BENCH_BUDGET_SECONDS ?? 180);
// A load run that outlives its duration by this much is killed: a stuck server or generator fails the bench.
const LOAD_GRACE_MS = 15_000;
// Issue 10: ceiling and Hono by CPU/req, JWT (item 5), memory (item 3); keyVsPublic: "an API key on a warm
// cache costs little more than a public route", as a number. Memory growth up to 5% is counted as none.
const GOALS = {
  vsCeiling: 0.7,
  vsHono: 1.5,
  keyVsPublic: 0.9,
  jwtUncached: 1.2,
  jwtCached: 2,
  rssVsElysia: 1.5,
  rssGrowth: 0.05,
};
// A rate-bounded load: each connection waits this long between a response and its next request.
const PACED_DELAY_MS = 10;

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
  runtime: "bun",
  command: ["bun", join(STACKS_DIR, file)],
  env: { ...env, ...route.credential?.env },
  guarded,
  rateLimited: guarded && env.BENCH_RATE_LIMIT !== "off",
  route,
});

// The authenticated rows' database: a scratch one on the test PostgreSQL, dropped at the end. No server
// whose latency is measured holds PGlite (~600 MiB in the process, p99 about 3x through GC).
const database = AUTH ? await createScratchDatabase() : undefined;

/** Credentials the Rampart server mints through the real account and key code, read from the file it writes. */
function rampartCredential(which: "accessToken" | "apiKey", accessTokens = 1): Credential {
  const file = join(tmpdir(), `rampart-bench-${process.pid}-${which}-${accessTokens}.json`);
  return {
    callerKind: which === "accessToken" ? "user" : "api_key",
    env: {
      BENCH_CREDENTIALS_FILE: file,
      BENCH_ACCESS_TOKENS: String(accessTokens),
      BENCH_DATABASE_URL: database?.url ?? "",
    },
    async authorizations() {
      const credentials = (await Bun.file(file).json()) as BenchCredentials;
      await rm(file);
      const tokens = which === "accessToken" ? credentials.accessTokens : [credentials.apiKey];
      return tokens.map((token) => `Bearer ${token}`);
    },
  };
}

// Hono's JWT route verifies tokens of the same shape, minted here with a key of their own.
const honoJwts = AUTH ? await mintHonoJwts(UNCACHED_TOKENS) : undefined;
const honoJwt = (count: number): Credential => ({
  callerKind: "user",
  env: { BENCH_JWT_VERIFICATION: JSON.stringify(honoJwts?.verification) },
  authorizations: async () => (honoJwts?.tokens ?? []).slice(0, count).map((token) => `Bearer ${token}`),
});
// Hono's API key: a random string whose SHA-256 the server holds in a Map.
const honoApiKey = `bench_${crypto.randomUUID().replaceAll("-", "")}`;
const HONO_KEY: Credential = {
  callerKind: "api_key",
  env: { BENCH_API_KEY_HASHES: JSON.stringify([Bun.SHA256.hash(honoApiKey, "hex")]) },
  authorizations: async () => [`Bearer ${honoApiKey}`],
};

const STACKS: Stack[] = [
  bunStack("elysia", "bare Elysia", "elysia.ts", { guarded: false }),
  bunStack("bun-headers", "Bun.serve + same headers, no logic", "bun-headers.ts"),
  bunStack("rampart", "Rampart, full chain, stdout sink", "rampart.ts"),
  bunStack("hono", "Hono + middleware", "hono.ts"),
  {
    key: "express",
    label: "Express 5 + helmet/cors/erl, no ETag",
    runtime: "node",
    command: ["node", join(STACKS_DIR, "express.mjs")],
    guarded: true,
    rateLimited: true,
    route: PING,
  },
];
const WHOAMI = "/v1/whoami";
const AUTH_STACKS: Stack[] = [
  bunStack("rampart-jwt", "Rampart JWT, 1 token (cached)", "rampart.ts", {
    route: { path: WHOAMI, credential: rampartCredential("accessToken") },
  }),
  bunStack("rampart-jwt-miss", `Rampart JWT, ${UNCACHED_TOKENS} tokens (uncached)`, "rampart.ts", {
    route: { path: WHOAMI, credential: rampartCredential("accessToken", UNCACHED_TOKENS) },
  }),
  bunStack("rampart-key", "Rampart API key (warm cache)", "rampart.ts", {
    route: { path: WHOAMI, credential: rampartCredential("apiKey") },
  }),
  bunStack("hono-jwt", "Hono + hono/jwt, 1 token", "hono.ts", {
    route: { path: WHOAMI, credential: honoJwt(1) },
  }),
  bunStack("hono-jwt-miss", `Hono + hono/jwt, ${UNCACHED_TOKENS} tokens`, "hono.ts", {
    route: { path: WHOAMI, credential: honoJwt(UNCACHED_TOKENS) },
  }),
  bunStack("hono-key", "Hono + bearer, SHA-256, Map", "hono.ts", {
    route: { path: WHOAMI, credential: HONO_KEY },
  }),
];
const BREAKDOWN_STACKS: Stack[] = [
  bunStack("rampart-nolog", "Rampart, log sink: none", "rampart.ts", { env: { BENCH_LOG_SINK: "none" } }),
  bunStack("rampart-norl", "Rampart, no rate limit rule", "rampart.ts", { env: { BENCH_RATE_LIMIT: "off" } }),
  bunStack("rampart-bare", "Rampart, no log sink, no rate limit", "rampart.ts", {
    env: { BENCH_LOG_SINK: "none", BENCH_RATE_LIMIT: "off" },
  }),
  bunStack("rampart-file", "Rampart, log to a FileSink (/dev/null)", "rampart.ts", {
    env: { BENCH_LOG_SINK: "file" },
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
    const status = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status !== 0) return;
    if (performance.now() - started > 30_000) throw new Error(`${label} did not answer within 30 s`);
    await Bun.sleep(20);
  }
}

/** Load at saturation, or, given a rate, paced connections (each waits PACED_DELAY_MS between requests). */
async function load(
  url: string,
  seconds: number,
  authorizationFile: string | undefined,
  rate?: number,
): Promise<LoadResult & { loadCpuS: number }> {
  const connections = rate === undefined ? CONNECTIONS : Math.max(1, Math.round((rate * PACED_DELAY_MS) / 1000));
  const command =
    wrk === null
      ? [
          "node",
          join(STACKS_DIR, "autocannon.mjs"),
          url,
          String(connections),
          String(seconds),
          ...(rate === undefined ? [] : [String(Math.round(rate))]),
        ]
      : [
          wrk,
          "-t1",
          `-c${connections}`,
          `-d${seconds}s`,
          "--timeout",
          "5s",
          "-s",
          join(STACKS_DIR, "browser.lua"),
          url,
        ];
  // Both load generators read the credentials and the pace from the environment.
  const env = {
    ...process.env,
    ...(authorizationFile === undefined ? {} : { BENCH_AUTHORIZATION_FILE: authorizationFile }),
    ...(rate === undefined ? {} : { BENCH_DELAY_MS: String(PACED_DELAY_MS) }),
  };
  const child = Bun.spawn(pinned(0, command), {
    cwd: ROOT,
    env,
    stdout: "pipe",
    stderr: "inherit",
    timeout: seconds * 1000 + LOAD_GRACE_MS,
    killSignal: "SIGKILL",
  });
  running.add(child);
  const output = await new Response(child.stdout).text();
  const exitCode = await child.exited;
  running.delete(child);
  if (child.signalCode !== null) throw new Error(`${loadTool} did not finish within ${seconds} s + grace`);
  if (exitCode !== 0) throw new Error(`${loadTool} failed:\n${output}`);
  const line = output.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
  if (line === undefined) throw new Error(`${loadTool} printed no result:\n${output}`);
  const loadCpuS = Number(child.resourceUsage()?.cpuTime.total ?? 0n) / 1e6;
  return { ...(JSON.parse(line.slice("BENCH_RESULT ".length)) as LoadResult), loadCpuS };
}

/** Resident set size of a process, from /proc; Linux only. */
async function rssMiB(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text();
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? Number.NaN) / 1024;
}

interface Served {
  url: string;
  pid: number;
  authorizationFile: string | undefined;
}

/** Starts a stack, checks its answers, hands it to `use`, then stops it. */
async function withServer<T>(stack: Stack, use: (served: Served) => Promise<T>): Promise<T> {
  const port = freePort();
  const url = `http://127.0.0.1:${port}${stack.route.path}`;
  const child = Bun.spawn(pinned(1, stack.command), {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: String(port), ...stack.env },
    stdout: "ignore",
    stderr: "inherit",
  });
  running.add(child);
  const authorizationFile =
    stack.route.credential === undefined ? undefined : join(tmpdir(), `rampart-bench-${process.pid}-${port}.txt`);
  try {
    await waitUntilServing(url, child, stack.label);
    const { credential } = stack.route;
    const presented =
      credential === undefined
        ? undefined
        : { callerKind: credential.callerKind, authorizations: await credential.authorizations() };
    if (presented !== undefined && authorizationFile !== undefined)
      await Bun.write(authorizationFile, `${presented.authorizations.join("\n")}\n`);
    await checkStack(url, stack, presented);
    const result = await use({ url, pid: child.pid, authorizationFile });
    if (child.exitCode !== null) throw new Error(`${stack.label} died under load`);
    return result;
  } finally {
    child.kill("SIGKILL");
    await child.exited;
    running.delete(child);
    if (authorizationFile !== undefined) await rm(authorizationFile, { force: true });
  }
}

async function measure(stack: Stack, rate?: number): Promise<Measurement> {
  return withServer(stack, async ({ url, pid, authorizationFile }) => {
    await load(url, WARMUP_S, authorizationFile, rate);
    // Other work on the machine (a test run, a type check) steals the server's or wrk's core: when it
    // did, measure once more and keep the quieter run.
    let kept: Measurement | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (kept !== undefined && busyElsewhere(kept) <= DISTURBED) break;
      const [cpuBefore, busyBefore] = [await cpuSecondsOf(pid), await machineBusySeconds()];
      const { loadCpuS, ...result } = await load(url, DURATION_S, authorizationFile, rate);
      const serverCpuS = (await cpuSecondsOf(pid)) - cpuBefore;
      const otherCpuS = Math.max(0, (await machineBusySeconds()) - busyBefore - serverCpuS - loadCpuS);
      const failures = result.connectErrors + result.readErrors + result.writeErrors + result.timeouts + result.non2xx;
      if (failures > 0)
        throw new Error(`${stack.label}: ${failures} failed requests under load ${JSON.stringify(result)}`);
      const measurement = { ...result, serverCpuS, otherCpuS };
      if (kept === undefined || busyElsewhere(measurement) < busyElsewhere(kept)) kept = measurement;
    }
    return kept as Measurement;
  });
}

interface MemoryReading {
  /** Requests served when it was read (0: once the checks' first requests were answered). */
  requests: number;
  rssMiB: number;
}

/**
 * RSS once the first request is answered, then at each of MEMORY_CHECKPOINTS requests at saturation, or
 * earlier when the checkpoint's share of MEMORY_BUDGET_S runs out (the reading says how many were served).
 */
async function measureMemory(stack: Stack): Promise<MemoryReading[]> {
  return withServer(stack, async ({ url, pid, authorizationFile }) => {
    const readings = [{ requests: 0, rssMiB: await rssMiB(pid) }];
    const shareMs = (MEMORY_BUDGET_S * 1000) / MEMORY_CHECKPOINTS.length;
    let served = 0;
    for (const checkpoint of MEMORY_CHECKPOINTS) {
      const deadline = performance.now() + shareMs;
      while (served < checkpoint && performance.now() < deadline) {
        const result = await load(url, 1, authorizationFile);
        const failures =
          result.connectErrors + result.readErrors + result.writeErrors + result.timeouts + result.non2xx;
        if (failures > 0) throw new Error(`${stack.label}: ${failures} failed requests under load`);
        served += result.requests;
      }
      readings.push({ requests: served, rssMiB: await rssMiB(pid) });
    }
    return readings;
  });
}

/** Share of a core the machine spent busy over `seconds` while this bench ran nothing. */
async function idleLoad(seconds: number): Promise<number> {
  const before = await machineBusySeconds();
  await Bun.sleep(seconds * 1000);
  return ((await machineBusySeconds()) - before) / seconds;
}

// Interrupted mid-run: take the server and the load generator down with us.
process.on("SIGINT", () => {
  for (const child of running) child.kill("SIGKILL");
  process.exit(130);
});

const loadBefore = await idleLoad(2);
const loadAverageBefore = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
const stackOf = (key: string) => STACKS.find((s) => s.key === key) as Stack;
const stacks = [...STACKS, ...(AUTH ? AUTH_STACKS : []), ...(BREAKDOWN ? BREAKDOWN_STACKS : [])];
const results = new Map<string, Measurement[]>(stacks.map((stack) => [stack.key, []]));
// At half of Hono's saturation rate of the same round, Rampart and Hono taking turns.
const PACED = ["rampart", "hono"];
const paced = new Map<string, Measurement[]>(PACED.map((key) => [key, []]));
const rps = (r: Measurement) => r.requests / (r.durationUs / 1e6);
const benchStarted = performance.now();
const elapsedS = () => (performance.now() - benchStarted) / 1000;
let roundsRun = 0;
try {
  for (let round = 1; round <= ROUNDS; round++) {
    // A round runs only when one more, at the pace so far, still fits in the budget (two always run).
    if (round > 2 && elapsedS() + elapsedS() / roundsRun > BUDGET_S) {
      process.stderr.write(`round ${round}/${ROUNDS} skipped: it would overrun ${BUDGET_S} s\n`);
      break;
    }
    for (const stack of stacks) {
      process.stderr.write(`round ${round}/${ROUNDS}: ${stack.label}...\n`);
      results.get(stack.key)?.push(await measure(stack));
    }
    const halfOfHono = rps(results.get("hono")?.[round - 1] as Measurement) / 2;
    for (const key of round % 2 === 1 ? PACED : [...PACED].reverse()) {
      process.stderr.write(`round ${round}/${ROUNDS}: ${stackOf(key).label} at ${Math.round(halfOfHono)} req/s...\n`);
      paced.get(key)?.push(await measure(stackOf(key), halfOfHono));
    }
    roundsRun = round;
  }
} finally {
  await database?.drop();
}
const MEMORY = ["rampart", "elysia", "hono"];
const roundsSeconds = elapsedS();
const memory = new Map<string, MemoryReading[]>();
for (const key of MEMORY) {
  process.stderr.write(`memory: ${stackOf(key).label}...\n`);
  memory.set(key, await measureMemory(stackOf(key)));
}
const totalSeconds = elapsedS();
const loadAfter = await idleLoad(2);

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
const medianRun = (runs: Measurement[]) => {
  const middle = median(runs.map(cpuUsPerRequest));
  return runs.reduce((best, r) =>
    Math.abs(cpuUsPerRequest(r) - middle) < Math.abs(cpuUsPerRequest(best) - middle) ? r : best,
  );
};
const get = (key: string) => medianRun(runsOf(key));
const perRound = (a: Measurement[], b: Measurement[], of: (x: Measurement, y: Measurement) => number) =>
  a.map((r, i) => of(r, b[i] as Measurement));
const rpsRatios = (a: string, b: string) => perRound(runsOf(a), runsOf(b), (x, y) => rps(x) / rps(y));
const cpuRatios = (a: string, b: string) =>
  perRound(runsOf(a), runsOf(b), (x, y) => cpuUsPerRequest(y) / cpuUsPerRequest(x));
const range = (values: number[], digits = 2) =>
  values.length < 2 ? "" : ` (${Math.min(...values).toFixed(digits)}-${Math.max(...values).toFixed(digits)})`;

// A row is starved when other processes took over DISTURBED of a core in most of its rounds; when most
// rows are, the figures say little about the code, so no verdict is given.
const starved = (runs: Measurement[]) => runs.filter((r) => busyElsewhere(r) > DISTURBED).length * 2 > runs.length;
const starvedRows = stacks.filter((s) => starved(runsOf(s.key)));
const verdictsWithheld = starvedRows.length * 2 > stacks.length;
const verdict = (met: boolean) => (verdictsWithheld ? "no verdict: CPU-starved run" : met ? "met" : "MISSED");

const ratioLine = (label: string, a: string, b: string, goal?: number) => {
  const byCpu = median(cpuRatios(a, b));
  return (
    `${label.padEnd(34)}by CPU/req ${byCpu.toFixed(2)}x${range(cpuRatios(a, b))}` +
    `${goal === undefined ? "" : `  goal >= ${goal}x: ${verdict(byCpu >= goal)}`}; req/s ` +
    `${median(rpsRatios(a, b)).toFixed(2)}x${range(rpsRatios(a, b))}; p99 ${ms(get(a).p99Us)} vs ${ms(get(b).p99Us)}`
  );
};
const pacedRuns = (key: string) => paced.get(key) as Measurement[];
const pacedP99Ratios = perRound(pacedRuns("rampart"), pacedRuns("hono"), (x, y) => x.p99Us / y.p99Us);
const mib = (value: number) => `${value.toFixed(1)} MiB`;
const readingOf = (key: string, index: number) => (memory.get(key) as MemoryReading[])[index] as MemoryReading;
const rssAt = (key: string, index: number) => readingOf(key, index).rssMiB;
const growthOf = (key: string) => rssAt(key, 2) / rssAt(key, 1) - 1;
const thousands = (n: number) => `${Math.round(n / 1000)}k`;

const flags = [...(AUTH ? [] : ["--no-auth"]), ...(BREAKDOWN ? ["--breakdown"] : [])];
// "wrk debian/4.1.0-3+b2 [epoll] Copyright ..." -> "wrk debian/4.1.0-3+b2"
const loadToolVersion =
  wrk === null
    ? "autocannon (wrk not installed or not chosen)"
    : versionOf([wrk, "--version"]).split(" ").slice(0, 2).join(" ");
// Below ~90% of a core the server was waiting on the load generator, so its req/s is a floor.
const loadBound = stacks.filter((s) => utilisation(get(s.key)) < 0.9);
const percent = (share: number) => `${Math.round(share * 100)}%`;
const row = (label: string, runtime: string, runs: Measurement[], mark = "") => {
  const r = medianRun(runs);
  return (
    `${label.padEnd(40)}${runtime.padEnd(6)}${Math.round(rps(r)).toString().padStart(8)}` +
    `${ms(r.p50Us).padStart(10)}${ms(r.p99Us).padStart(10)}${percent(utilisation(r)).padStart(8)}` +
    `${`${cpuUsPerRequest(r).toFixed(1)} us`.padStart(10)}${range(runs.map(cpuUsPerRequest), 1).padStart(15)}` +
    `${percent(busyElsewhere(r)).padStart(7)}${mark}`
  );
};

const lines = [
  `# bun run bench:http${flags.length > 0 ? ` -- ${flags.join(" ")}` : ""} (${new Date().toISOString()})`,
  `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), bun ${Bun.version}, node ` +
    `${versionOf(["node", "--version"])}`,
  `machine load: ${percent(loadBefore)} of a core busy before the run, ${percent(loadAfter)} after it (2 s ` +
    `idle samples of /proc/stat); load average before ${loadAverageBefore}; other processes' share during each ` +
    `row in the "other" column`,
  `load: ${loadToolVersion}, 1 thread, ${CONNECTIONS} connections, ${DURATION_S}s after a ${WARMUP_S}s warm-up, ` +
    (pin ? "server pinned to CPU 1, load generator to CPU 0 (taskset)" : "not pinned"),
  `rounds: ${roundsRun} of ${ROUNDS} (budget ${BUDGET_S} s; rounds took ${Math.round(roundsSeconds)} s, the ` +
    `whole run ${Math.round(totalSeconds)} s), the stacks taking turns; each row is the round with the median ` +
    `CPU/req (range of all rounds beside it), each ratio the median of the ratios within a round (range in brackets)`,
  "requests: GET /v1/ping with Origin https://app.example.com and browser headers; X-Request-ID on every other request",
  "log: one JSON line per request; Bun stacks (Rampart's headline row included) through Rampart's production " +
    "stdout sink (lib/log/stdout-sink.ts, one write per event-loop turn), stdout to /dev/null; Express through " +
    "fs.createWriteStream to /dev/null",
  "runtime: the runtime column; Express runs on node, every other stack on bun",
  "database: Rampart runs the production configuration's postgres.js client; /v1/ping never queries it; the " +
    `authenticated rows use a scratch database on the test PostgreSQL; no server process loads PGlite`,
  "rate limit: 1e9 per minute per client address (never refuses): Rampart's in-process limiter, " +
    "hono-rate-limiter MemoryStore, express-rate-limit MemoryStore",
  ...(AUTH
    ? [
        `authenticated: GET ${WHOAMI} with the same headers plus Authorization: Bearer, the same rate limit ` +
          `rule, served by the same app as the public route`,
        "  Rampart (user-or-key): EdDSA access tokens of one session (signature, claims, session revocation " +
          "check) or an API key (checksum, hash, in-process cache, warm after the first request)",
        `  uncached: ${UNCACHED_TOKENS} distinct tokens sent in turn, more than Rampart's verified-token cache ` +
          `holds (${DEFAULT_ACCESS_TOKEN_VERIFIER.maxEntries}, lib/auth/access-token-verifier.ts): ` +
          "every request a miss",
        "  Hono: hono/jwt, EdDSA, checking iss, aud, typ, exp and iat, public key imported once (no cache: " +
          "1 token and many cost the same); API key: hono/bearer-auth, SHA-256 (Bun.SHA256), Map lookup",
      ]
    : [
        "authenticated rows left out (--no-auth, or TEST_POSTGRES_URL unset: start .ci/start-services and " +
          "source its output)",
      ]),
  "",
  `${"stack".padEnd(40)}${"rt".padEnd(6)}${"req/s".padStart(8)}${"p50".padStart(10)}${"p99".padStart(10)}` +
    `${"CPU".padStart(8)}${"CPU/req".padStart(10)}${"CPU/req range".padStart(15)}${"other".padStart(7)}`,
  ...stacks.map((s) => row(s.label, s.runtime, runsOf(s.key), loadBound.includes(s) ? " *" : "")),
  ...PACED.map((key) =>
    row(`${stackOf(key).label.split(",")[0]} at half Hono's rate`, stackOf(key).runtime, pacedRuns(key)),
  ),
  ...(loadBound.length > 0
    ? [
        "* server below 90% of a core: it waited on the load generator (or lost its core to other work), so " +
          "req/s understates it; compare CPU/req",
      ]
    : []),
  `half Hono's rate: ${PACED_DELAY_MS} ms between a response and a connection's next request, connections ` +
    "= rate x delay; the CPU column is below a core there by design",
  ...(starvedRows.length > 0
    ? [
        `WARNING: other processes used over ${percent(DISTURBED)} of a core in most rounds of ` +
          `${starvedRows.length} of ${stacks.length} rows (${starvedRows.map((s) => s.key).join(", ")}); ` +
          (verdictsWithheld
            ? "that is most rows, so the goals below get no verdict"
            : "those rows' figures are disturbed"),
      ]
    : []),
  "",
  "goals (issue 10, items 5 and 7):",
  ratioLine("Rampart / headers-only ceiling", "rampart", "bun-headers", GOALS.vsCeiling),
  ratioLine("Rampart / Hono", "rampart", "hono", GOALS.vsHono),
  `${"p99 at half Hono's rate".padEnd(34)}Rampart ${ms(medianRun(pacedRuns("rampart")).p99Us)} vs Hono ` +
    `${ms(medianRun(pacedRuns("hono")).p99Us)}: ratio ${median(pacedP99Ratios).toFixed(2)}x${range(pacedP99Ratios)}` +
    `  goal <= 1x: ${verdict(median(pacedP99Ratios) <= 1)}`,
  ...(AUTH
    ? [
        ratioLine("Rampart JWT / Hono JWT, uncached", "rampart-jwt-miss", "hono-jwt-miss", GOALS.jwtUncached),
        ratioLine("Rampart JWT / Hono JWT, cached", "rampart-jwt", "hono-jwt", GOALS.jwtCached),
        ratioLine("Rampart API key / public", "rampart-key", "rampart", GOALS.keyVsPublic),
        ratioLine("Rampart API key / Hono API key", "rampart-key", "hono-key"),
      ]
    : []),
  "other ratios:",
  ratioLine("Rampart / bare Elysia", "rampart", "elysia"),
  ratioLine("headers-only ceiling / Elysia", "bun-headers", "elysia"),
  ratioLine("Rampart / Express", "rampart", "express"),
  ...(AUTH
    ? [
        ratioLine("Rampart JWT uncached / public", "rampart-jwt-miss", "rampart"),
        ratioLine("Hono JWT / public", "hono-jwt", "hono"),
      ]
    : []),
  "",
  `memory (issue 10, item 3; one run each, after the rounds): RSS once the first requests are answered, then ` +
    `after ${MEMORY_CHECKPOINTS.map(thousands).join(" and ")} requests at saturation (same load), or as many as ` +
    `fit in ${MEMORY_BUDGET_S / MEMORY_CHECKPOINTS.length} s each (the count served is printed)`,
  ...MEMORY.map(
    (key) =>
      `${stackOf(key).label.padEnd(40)}${stackOf(key).runtime.padEnd(6)}start ${mib(rssAt(key, 0))}, ` +
      `${thousands(readingOf(key, 1).requests)} ${mib(rssAt(key, 1))}, ${thousands(readingOf(key, 2).requests)} ` +
      `${mib(rssAt(key, 2))} (growth after the first ${thousands(readingOf(key, 1).requests)} ` +
      `${(growthOf(key) * 100).toFixed(1)}%)`,
  ),
  `${"Rampart / bare Elysia at start".padEnd(34)}${(rssAt("rampart", 0) / rssAt("elysia", 0)).toFixed(2)}x  ` +
    `goal <= ${GOALS.rssVsElysia}x: ${verdict(rssAt("rampart", 0) / rssAt("elysia", 0) <= GOALS.rssVsElysia)}`,
  `${`Rampart growth after ${thousands(readingOf("rampart", 1).requests)}`.padEnd(34)}` +
    `${(growthOf("rampart") * 100).toFixed(1)}%  goal none (<= ${GOALS.rssGrowth * 100}%): ` +
    // The goal names the first 100k requests: fewer reached within the budget gives no verdict.
    (readingOf("rampart", 1).requests < (MEMORY_CHECKPOINTS[0] as number)
      ? "no verdict: fewer requests than the goal names"
      : verdict(growthOf("rampart") <= GOALS.rssGrowth)),
];
const text = `${lines.join("\n")}\n`;
process.stdout.write(text);
await Bun.write(RESULTS_FILE, text);
