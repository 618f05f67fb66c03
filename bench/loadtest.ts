/**
 * `bun run loadtest <baseline|stress|breaking-point|soak|smoke> [--url http://localhost:3000]`: load tests
 * against a served Rampart (`bun dev` by default). Reports go to bench/results/loadtest-<scenario>.{json,md};
 * `smoke` compares a 10-second baseline with the committed one and exits 1 on a large regression.
 *
 * Environment: ADMIN_TOKEN (the server's, to lift the rate limits for the run), LOADTEST_DATABASE_URL and
 * LOADTEST_REDIS_URL (to sample the database's connections and Redis's commands).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type LoadTestOptions, runLoadTest, SCENARIOS, type Scenario } from "./load/load-test.ts";
import { BASELINE_FILE, RESULTS_DIR } from "./load/paths.ts";
import { compareWithBaseline, REGRESSION_FACTOR } from "./load/regression.ts";
import { renderMarkdown } from "./load/report-markdown.ts";

const { values, positionals } = parseArgs({
  args: Bun.argv.slice(2),
  allowPositionals: true,
  options: {
    url: { type: "string", default: process.env.LOADTEST_URL ?? "http://localhost:3000" },
    pid: { type: "string" },
    seconds: { type: "string" },
    rounds: { type: "string" },
    concurrency: { type: "string" },
    rate: { type: "string" },
    minutes: { type: "string" },
    "slo-p99-ms": { type: "string" },
    out: { type: "string", default: RESULTS_DIR },
  },
});

const scenario = positionals[0] as Scenario | undefined;
if (scenario === undefined || !SCENARIOS.includes(scenario)) {
  console.error(`usage: bun run loadtest <${SCENARIOS.join("|")}> [--url http://localhost:3000]`);
  process.exit(2);
}

const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
const defined = <T extends object>(object: T) =>
  Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as T;

const options: LoadTestOptions = defined({
  url: values.url,
  adminToken: process.env.ADMIN_TOKEN,
  pid: number(values.pid),
  databaseUrl: process.env.LOADTEST_DATABASE_URL,
  redisUrl: process.env.LOADTEST_REDIS_URL,
  seconds: number(values.seconds),
  rounds: number(values.rounds),
  concurrency: number(values.concurrency),
  rate: number(values.rate),
  minutes: number(values.minutes),
  slo:
    values["slo-p99-ms"] === undefined
      ? undefined
      : { p99Ms: Number(values["slo-p99-ms"]), errorRate: 0.01, achievedShare: 0.9 },
  log: (line: string) => console.log(line),
});

if (options.adminToken === undefined)
  console.log(
    "ADMIN_TOKEN is not set: the rate-limited routes are skipped (each 429 would count toward blocking this " +
      "address). Start the server with ADMIN_TOKEN=<32+ characters> and run the load test with the same.",
  );

const report = await runLoadTest(scenario, options).catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
const markdown = renderMarkdown(report);
console.log(`\n${markdown}`);

if (scenario === "smoke") {
  if (!report.run.rateLimits.overridden) {
    console.log("smoke: no comparison without ADMIN_TOKEN (the committed baseline measures every route).");
    process.exit(0);
  }
  const committed = (await Bun.file(BASELINE_FILE).json()) as { baseline: NonNullable<typeof report.baseline> };
  const comparisons = compareWithBaseline(committed.baseline, report.baseline ?? {});
  for (const c of comparisons)
    console.log(`${c.route}: req/s ÷ health ${c.measured} now, ${c.committed} committed (×${c.change})`);
  const regressed = comparisons.filter((c) => c.regressed);
  if (regressed.length > 0) {
    const names = regressed.map((c) => c.route).join(", ");
    console.error(`regressed: ${names} (under the slowest committed round ÷ ${REGRESSION_FACTOR})`);
    process.exit(1);
  }
} else {
  mkdirSync(values.out, { recursive: true });
  const file = join(values.out, `loadtest-${scenario}`);
  await Bun.write(`${file}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await Bun.write(`${file}.md`, markdown);
  console.log(`written ${file}.json and ${file}.md`);
}
