/**
 * Cold start of every deployment bundle, process start to first answer (see bench/cold-start-runs.ts), each
 * with its CPU time and its ratio to the bare peer measured in the same alternating rounds. Needs the test
 * PostgreSQL and Redis: `.ci/start-services`.
 */
import { type ColdStartRow, measureColdStarts, median } from "./cold-start-runs.ts";

const ROUNDS = Number(process.env.COLD_START_RUNS ?? 11);
// Functions that validate no request input: their goal is 2x the bare peer, the others' 4x.
const NO_INPUT = new Set([
  "health",
  "jwks",
  "me",
  "signing-keys",
  "cron",
  "docs",
  "openapi",
  "metrics",
  "slo",
  "status",
]);

const rows = await measureColdStarts({ rounds: ROUNDS, deno: true });
const peerOf = (row: ColdStartRow) =>
  rows.find((r) => r.name === (row.peer === "elysia" ? "bare Elysia" : "bare Deno.serve"));
const ms = (values: number[]) =>
  `${median(values).toFixed(0)} [${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}]`;

console.log(
  `cold start, process start to first answer of GET /health/live (median [min-max] of ${ROUNDS} alternating rounds)`,
);
console.log("production drivers: postgres.js on a migrated scratch database, @upstash/redis through the local gateway");
console.log(
  ["bundle".padEnd(16), "KiB".padStart(6), "wall ms".padStart(14), "CPU ms".padStart(14)].join(" ") +
    `${"wall x".padStart(8)} ${"CPU x".padStart(6)}  ${"goal".padEnd(10)} ` +
    `${"RSS MiB".padStart(8)} ${"RSS x".padStart(6)}`,
);
for (const row of rows) {
  const peer = peerOf(row);
  const wall = row.samples.map((s) => s.wallMs);
  const cpu = row.samples.map((s) => s.cpuMs);
  const isPeer = peer === row;
  const wallRatio = peer === undefined ? Number.NaN : median(wall) / median(peer.samples.map((s) => s.wallMs));
  const cpuRatio = peer === undefined ? Number.NaN : median(cpu) / median(peer.samples.map((s) => s.cpuMs));
  const goal = isPeer ? "" : NO_INPUT.has(row.name) || row.name === "deno bundle" ? "2x" : "4x";
  const verdict = goal === "" ? "" : wallRatio <= Number.parseFloat(goal) ? `${goal} met` : `${goal} missed`;
  const rss = median(row.samples.map((s) => s.rssMiB));
  const rssRatio = peer === undefined ? Number.NaN : rss / median(peer.samples.map((s) => s.rssMiB));
  console.log(
    [row.name.padEnd(16), (row.bytes / 1024).toFixed(0).padStart(6), ms(wall).padStart(14), ms(cpu).padStart(14)].join(
      " ",
    ) +
      " " +
      `${wallRatio.toFixed(2).padStart(7)} ${cpuRatio.toFixed(2).padStart(6)}  ${verdict.padEnd(10)} ` +
      `${rss.toFixed(1).padStart(8)} ${rssRatio.toFixed(2).padStart(6)}`,
  );
}
// The Upstash gateway the runs started keeps the event loop alive.
process.exit(0);
