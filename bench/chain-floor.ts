/**
 * The floor of Rampart's chain on GET /v1/ping: the same server (bench/http-stacks/rampart.ts) with one part
 * left out in turn (BENCH_WITHOUT), beside the full chain, the headers-only ceiling and Hono, loaded by wrk over
 * loopback like bench/http.ts (server pinned to CPU 1, wrk to CPU 0). Each row is the server's CPU per request;
 * the saving is taken within a round against the full chain of that round. When even the cheapest removal
 * leaves the chain above a goal, the goal is blocked by what remains, not by one step.
 */
import { join } from "node:path";
import { GUARD_STEPS } from "../lib/http/guard-chain.ts";
import { freePort } from "../test/free-port.ts";

const ROUNDS = Number(process.env.FLOOR_BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.FLOOR_BENCH_SECONDS ?? 3);
// A comma-separated subset of the parts to leave out (all of them by default), for more rounds in less time.
const PARTS = process.env.FLOOR_BENCH_PARTS?.split(",");
const STACKS_DIR = join(import.meta.dir, "http-stacks");
const RESULTS_FILE = join(import.meta.dir, "results", "chain-floor.txt");
const CLOCK_TICKS_PER_S = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

interface Variant {
  label: string;
  file: string;
  without?: string;
}
const FULL = "Rampart, full chain";
const variants: Variant[] = [
  { label: "headers-only ceiling", file: "bun-headers.ts" },
  { label: "Hono + middleware", file: "hono.ts" },
  { label: FULL, file: "rampart.ts" },
  ...[...GUARD_STEPS.map((step) => step.name), "request log", "socket address"]
    .filter((part) => PARTS === undefined || PARTS.includes(part))
    .map((without) => ({
      label: `  without ${without}`,
      file: "rampart.ts",
      without,
    })),
];

async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

function wrk(url: string, seconds: number): number {
  const child = Bun.spawnSync(
    ["taskset", "-c", "0", "wrk", "-t1", "-c32", `-d${seconds}s`, "-s", join(STACKS_DIR, "browser.lua"), url],
    { stdout: "pipe", stderr: "inherit" },
  );
  const line = child.stdout
    .toString()
    .split("\n")
    .find((l) => l.startsWith("BENCH_RESULT "));
  if (line === undefined) throw new Error(`wrk printed no result:\n${child.stdout}`);
  const result = JSON.parse(line.slice("BENCH_RESULT ".length)) as { requests: number; non2xx: number };
  if (result.non2xx > 0) throw new Error(`${url}: ${result.non2xx} answers were not 2xx`);
  return result.requests;
}

async function measure(variant: Variant): Promise<number> {
  const port = await freePort();
  const server = Bun.spawn(["taskset", "-c", "1", "bun", join(STACKS_DIR, variant.file)], {
    env: { ...process.env, PORT: String(port), BENCH_WITHOUT: variant.without ?? "" },
    stdout: "ignore",
    stderr: "inherit",
  });
  const url = `http://127.0.0.1:${port}/v1/ping`;
  try {
    for (let tries = 0; ; tries++) {
      const status = await fetch(url).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      if (tries > 300) throw new Error(`${variant.label} did not serve`);
      await Bun.sleep(50);
    }
    wrk(url, 1);
    const before = await cpuSecondsOf(server.pid);
    const requests = wrk(url, SECONDS);
    return (((await cpuSecondsOf(server.pid)) - before) / requests) * 1e6;
  } finally {
    server.kill("SIGTERM");
    await server.exited;
  }
}

const loadBefore = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
const perRound: Map<string, number>[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const figures = new Map<string, number>();
  for (const variant of variants) figures.set(variant.label, await measure(variant));
  perRound.push(figures);
  process.stderr.write(`round ${round + 1} of ${ROUNDS} done\n`);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] as number;
const range = (values: number[]) => `(${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)})`;
const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
const lines = [
  `# bun bench/chain-floor.ts (${new Date().toISOString()})`,
  `bun ${Bun.version}; wrk -t1 -c32, ${SECONDS}s after a 1s warm-up; ${ROUNDS} rounds, variants taking turns; ` +
    `load average ${loadBefore} before, ${load} after`,
  "GET /v1/ping, browser headers, Origin, X-Request-ID on every other request, production stdout sink",
  "CPU/req: the server's user+system CPU per request, median over rounds (range); saving: full chain minus the " +
    "variant, within each round",
  "",
  `${"variant".padEnd(40)}${"CPU/req".padStart(9)}  ${"range".padEnd(13)}${"saving".padStart(8)}`,
  ...variants.map(({ label }) => {
    const values = perRound.map((figures) => figures.get(label) as number);
    const savings = perRound.map((figures) => (figures.get(FULL) as number) - (figures.get(label) as number));
    const saving = label.startsWith("  without") ? `${median(savings).toFixed(1)} us` : "";
    const cpu = `${median(values).toFixed(1)} us`;
    return `${label.padEnd(40)}${cpu.padStart(9)}  ${range(values).padEnd(13)}${saving.padStart(8)}`;
  }),
];
const text = `${lines.join("\n")}\n`;
process.stdout.write(text);
await Bun.write(RESULTS_FILE, text);
