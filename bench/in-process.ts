/**
 * The guard chain's own JavaScript cost, without sockets: the same GET /v1/ping is handed straight to
 * each app's fetch, in one process, rounds alternating. Over loopback (bench/http.ts) the figures carry
 * the HTTP server's and the kernel's share and drift with the machine; here a change to the chain shows
 * up to a tenth of a microsecond. Figures are the process's CPU time, which other processes barely move.
 * Building the Request is measured alone and subtracted.
 * IN_PROCESS_BENCH_BASELINE names another tree (`git archive HEAD~1`, node_modules linked): its full chain
 * takes turns with this one's, and the ratio of the two is printed per round, to price a change.
 */
import { Elysia } from "elysia";
import { loadConfig } from "../lib/config/config.ts";
import type { RoutePolicy } from "../lib/core/route-policy.ts";
import { buildApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createLogger } from "../lib/log/logger.ts";
import { openRuntime } from "../lib/runtime/runtime.ts";
import browser from "./http-stacks/browser-headers.json";

const REQUESTS_PER_ROUND = Number(process.env.IN_PROCESS_BENCH_REQUESTS ?? 40_000);
const ROUNDS = Number(process.env.IN_PROCESS_BENCH_ROUNDS ?? 7);
const RESULTS_FILE = `${import.meta.dir}/results/in-process.txt`;

const writer = Bun.file("/dev/null").writer({ highWaterMark: 64 * 1024 });
const toDevNull = (line: string) => {
  writer.write(`${line}\n`);
};

const BASELINE = process.env.IN_PROCESS_BENCH_BASELINE;

interface ChainParts {
  buildApp: typeof buildApp;
  policyPlugin: typeof policyPlugin;
  defineRouteGroup: typeof defineRouteGroup;
  loadConfig: typeof loadConfig;
  createLogger: typeof createLogger;
  openRuntime: typeof openRuntime;
}
const CURRENT: ChainParts = { buildApp, policyPlugin, defineRouteGroup, loadConfig, createLogger, openRuntime };

async function partsOf(root: string): Promise<ChainParts> {
  const from = async <T>(path: string) => (await import(`${root}/lib/${path}`)) as T;
  return {
    ...(await from<Pick<ChainParts, "buildApp">>("http/app.ts")),
    ...(await from<Pick<ChainParts, "policyPlugin">>("http/policy-plugin.ts")),
    ...(await from<Pick<ChainParts, "defineRouteGroup">>("http/route-group.ts")),
    ...(await from<Pick<ChainParts, "loadConfig">>("config/config.ts")),
    ...(await from<Pick<ChainParts, "createLogger">>("log/logger.ts")),
    ...(await from<Pick<ChainParts, "openRuntime">>("runtime/runtime.ts")),
  };
}

async function rampart(options: { log: boolean; rateLimit: boolean }, parts: ChainParts = CURRENT) {
  const { buildApp, policyPlugin, defineRouteGroup, loadConfig, createLogger, openRuntime } = parts;
  const policy: RoutePolicy = {
    access: "public",
    rateLimits: options.rateLimit ? [{ name: "bench", limit: 1e9, windowMs: 60_000, scope: "ip" }] : [],
  };
  const group = defineRouteGroup("bench", () =>
    new Elysia({ name: "bench" }).use(policyPlugin).get("/v1/ping", () => ({ ok: true, time: Date.now() }), { policy }),
  );
  // A postgres.js client that connects on its first query, which this route never makes.
  const config = loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "info",
    CORS_ORIGINS: "https://app.example.com",
    DATABASE_URL: "postgres://bench:unused@127.0.0.1:1/bench",
    DATABASE_DRIVER: "postgres",
  });
  // Without the log, request lines (info) are not even built.
  const logger = createLogger({ level: options.log ? "info" : "warn", sink: toDevNull });
  return buildApp(await openRuntime(config, { logger }), [group]);
}

const bare = new Elysia().get("/v1/ping", () => ({ ok: true, time: Date.now() }));
const server = { requestIP: () => ({ address: "127.0.0.1" }) };
const browserHeaders = { host: "127.0.0.1:3000", ...browser };
// As in the HTTP bench, every other request carries its own X-Request-ID.
const requestFor = (i: number) =>
  new Request("http://127.0.0.1:3000/v1/ping", {
    headers: i % 2 === 0 ? browserHeaders : { ...browserHeaders, "x-request-id": `web-${i % 1000}-0123abcd` },
  });

type Handler = (request: Request) => Response | Promise<Response>;
const [full, noLog, noRateLimit] = [
  await rampart({ log: true, rateLimit: true }),
  await rampart({ log: false, rateLimit: true }),
  await rampart({ log: true, rateLimit: false }),
];
const BASELINE_LABEL = "Rampart, full chain, baseline checkout";
const baseline =
  BASELINE === undefined ? undefined : await rampart({ log: true, rateLimit: true }, await partsOf(BASELINE));
const handlers: [string, Handler][] = [
  ["building the Request (subtracted below)", () => new Response("{}")],
  ["bare Elysia", (r) => bare.fetch(r)],
  ["Rampart, full chain", (r) => full.fetch(r, server)],
  ["Rampart, no request log line", (r) => noLog.fetch(r, server)],
  ["Rampart, no rate limit rule", (r) => noRateLimit.fetch(r, server)],
  ...(baseline === undefined ? [] : [[BASELINE_LABEL, (r: Request) => baseline.fetch(r, server)] as [string, Handler]]),
];

// CPU time, not wall time: on a shared machine a process waiting for its core would count the wait.
const cpuMicroseconds = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const timings = new Map<string, number[]>(handlers.map(([label]) => [label, []]));
for (let round = 0; round <= ROUNDS; round++) {
  // Odd rounds run the handlers in reverse: each then follows a different one, whose garbage it may collect.
  for (const [label, handle] of round % 2 === 0 ? handlers : [...handlers].reverse()) {
    const started = cpuMicroseconds();
    for (let i = 0; i < REQUESTS_PER_ROUND; i++) {
      const response = await handle(requestFor(i));
      if (response.status !== 200) throw new Error(`${label}: ${response.status} ${await response.text()}`);
      await response.arrayBuffer();
    }
    // Round 0 warms the JIT up and is not kept.
    if (round > 0) timings.get(label)?.push((cpuMicroseconds() - started) / REQUESTS_PER_ROUND);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] as number;
const base = median(timings.get(handlers[0]?.[0] as string) as number[]);
const own = (label: string) => median(timings.get(label) as number[]) - base;
const lines = [
  `# bun run bench:in-process (${new Date().toISOString()})`,
  `bun ${Bun.version}; ${REQUESTS_PER_ROUND} requests a round, ${ROUNDS} rounds after a warm-up round, ` +
    `handlers taking turns; median CPU time (user + system, the whole process) per request`,
  "GET /v1/ping with browser headers and Origin, handed to each app's fetch in process: no sockets, no HTTP parsing",
  "",
  ...handlers.map(
    ([label], index) => `${label.padEnd(42)}${`${(index === 0 ? base : own(label)).toFixed(2)} us`.padStart(10)}`,
  ),
  "",
  `the guard chain's own cost over bare Elysia: ${(own("Rampart, full chain") - own("bare Elysia")).toFixed(2)}` +
    ` us a request`,
  `  of which the log line ${(own("Rampart, full chain") - own("Rampart, no request log line")).toFixed(2)} ` +
    `us, the rate limit (check and headers) ` +
    `${(own("Rampart, full chain") - own("Rampart, no rate limit rule")).toFixed(2)} us`,
];
if (baseline !== undefined) {
  // Per round: each chain's own cost (the Request's subtracted), this checkout's over the baseline's.
  const ratios = (timings.get("Rampart, full chain") as number[]).map((current, round) => {
    const request = (timings.get(handlers[0]?.[0] as string) as number[])[round] as number;
    return (current - request) / (((timings.get(BASELINE_LABEL) as number[])[round] as number) - request);
  });
  const sorted = [...ratios].sort((a, b) => a - b);
  lines.push(
    `this checkout's full chain / ${BASELINE}'s: ${median(ratios).toFixed(3)}x ` +
      `(${sorted[0]?.toFixed(3)}-${sorted.at(-1)?.toFixed(3)}) over ${ratios.length} rounds`,
  );
}
const text = `${lines.join("\n")}\n`;
process.stdout.write(text);
// A comparison with another checkout is a measurement of a change, not the figures of this one.
if (baseline === undefined) await Bun.write(RESULTS_FILE, text);
process.exit(0);
