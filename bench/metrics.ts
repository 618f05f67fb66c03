/**
 * What recording a request costs, per observation, beside peers measured in the same run with rounds
 * alternating: a bare counter++, the pre-resolved recorder the request path uses, the same with the clock
 * read and window check it makes, and a recorder looked up in a Map by a per-request key (what a
 * label-resolving client does). Also the seal of one window over 50 routes (once per 10 s per instance).
 */
import { MetricsRegistry } from "../lib/metrics/metrics-registry.ts";

const OBSERVATIONS = Number(process.env.METRICS_BENCH_OBSERVATIONS ?? 2_000_000);
const ROUNDS = Number(process.env.METRICS_BENCH_ROUNDS ?? 9);
const SEALS_PER_ROUND = 20;
const RESULTS_FILE = `${import.meta.dir}/results/metrics.txt`;

const registry = new MetricsRegistry();
const routes = Array.from({ length: 50 }, (_, i) => `/v1/things${i}/:id`);
const recorders = routes.map((route) => registry.route(route, "GET"));
const byKey = new Map(routes.map((route, i) => [`GET ${route}`, recorders[i]]));
// Durations and statuses vary, as they do, so neither the branch nor the bucket is predicted for free.
const durations = Float64Array.from({ length: 4096 }, () => Math.random() ** 3 * 3000);
const statuses = Int32Array.from({ length: 4096 }, (_, i) => (i % 50 === 0 ? 500 : i % 10 === 0 ? 404 : 200));
const counter = new Float64Array(1);
const recorder = recorders[7] as NonNullable<(typeof recorders)[number]>;
let sink = 0;

const cases: [string, () => void][] = [
  [
    "counter++ (a Float64Array slot)",
    () => {
      for (let i = 0; i < OBSERVATIONS; i++) counter[0] = (counter[0] as number) + (durations[i & 4095] as number);
    },
  ],
  [
    "pre-resolved recorder.observe",
    () => {
      for (let i = 0; i < OBSERVATIONS; i++)
        recorder.observe(statuses[i & 4095] as number, durations[i & 4095] as number);
    },
  ],
  [
    "clock read + seal check + observe",
    () => {
      for (let i = 0; i < OBSERVATIONS; i++) {
        if (Date.now() >= registry.sealAt + 1e15) sink++;
        recorder.observe(statuses[i & 4095] as number, durations[i & 4095] as number);
      }
    },
  ],
  [
    "Map lookup by `METHOD route` + observe",
    () => {
      for (let i = 0; i < OBSERVATIONS; i++)
        byKey.get(`GET ${routes[i % 50]}`)?.observe(statuses[i & 4095] as number, durations[i & 4095] as number);
    },
  ],
];

const timings = new Map<string, number[]>(cases.map(([label]) => [label, []]));
const seals: number[] = [];
for (let round = 0; round <= ROUNDS; round++) {
  for (const [label, run] of cases) {
    const started = Bun.nanoseconds();
    run();
    // Round 0 warms the JIT up and is not kept.
    if (round > 0) timings.get(label)?.push((Bun.nanoseconds() - started) / OBSERVATIONS);
  }
  let sealNs = 0;
  for (let i = 0; i < SEALS_PER_ROUND; i++) {
    for (const r of recorders) for (const status of [200, 404, 500]) r.observe(status, 12);
    const started = Bun.nanoseconds();
    registry.seal(Date.now());
    sealNs += Bun.nanoseconds() - started;
  }
  if (round > 0) seals.push(sealNs / SEALS_PER_ROUND / 1000);
  // Drop what was sealed, so each round seals one window's worth.
  await registry.flush({ incrementFields: async () => {} }, Date.now() + round * 60_000, true);
}

const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
const summary = (values: number[], unit: string) => {
  const s = sorted(values);
  const [low, median, high] = [s[0], s[s.length >> 1], s.at(-1)].map((v) => (v as number).toFixed(1));
  return `${median} ${unit} (${low}–${high})`;
};
const lines = [
  `# bun bench/metrics.ts (${new Date().toISOString()})`,
  `bun ${Bun.version}; ${OBSERVATIONS} observations a round, ${ROUNDS} rounds after a warm-up round, cases taking ` +
    "turns; median per observation (range over rounds)",
  "",
  ...cases.map(([label]) => `${label.padEnd(44)}${summary(timings.get(label) as number[], "ns")}`),
  "",
  `seal of a window over 50 routes, 3 status classes: ${summary(seals, "us")}`,
];
const text = `${lines.join("\n")}\n`;
process.stdout.write(text);
await Bun.write(RESULTS_FILE, text);
if (sink < 0) console.log(sink);
process.exit(0);
