/**
 * CI's cold-start budget (.ci/run): fails when a function bundle's cold-start CPU, as a ratio to the bare
 * Elysia bundle measured in the same alternating rounds, or its size grows past bench/cold-start-budget.json.
 * CPU time rather than wall time: a core kept busy by another process delays a run but barely changes it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { measureColdStarts, median } from "../bench/cold-start-runs.ts";

const BUDGET_FILE = join(import.meta.dir, "..", "bench", "cold-start-budget.json");
const ROUNDS = Number(process.env.COLD_START_BUDGET_ROUNDS ?? 5);

interface Budget {
  maxCpuRatio: Record<string, number>;
  maxKiB: Record<string, number>;
}

const budget = JSON.parse(readFileSync(BUDGET_FILE, "utf8")) as Budget;
const rows = await measureColdStarts({ rounds: ROUNDS, deno: false });
const bare = rows.find((row) => row.name === "bare Elysia");
if (bare === undefined) throw new Error("the bare Elysia bundle was not measured");
const bareCpu = median(bare.samples.map((s) => s.cpuMs));
const overs: string[] = [];
for (const row of rows) {
  if (row === bare) continue;
  const maxRatio = budget.maxCpuRatio[row.name];
  const maxKiB = budget.maxKiB[row.name];
  if (maxRatio === undefined || maxKiB === undefined) {
    overs.push(`${row.name}: no budget in bench/cold-start-budget.json`);
    continue;
  }
  const ratio = median(row.samples.map((s) => s.cpuMs)) / bareCpu;
  const kib = row.bytes / 1024;
  console.log(
    `${row.name.padEnd(14)} CPU ${ratio.toFixed(2)}x (budget ${maxRatio}x), ${kib.toFixed(0)} KiB (${maxKiB})`,
  );
  if (ratio > maxRatio) overs.push(`${row.name}: cold-start CPU ${ratio.toFixed(2)}x bare Elysia, budget ${maxRatio}x`);
  if (kib > maxKiB) overs.push(`${row.name}: ${kib.toFixed(0)} KiB, budget ${maxKiB} KiB`);
}
if (overs.length > 0) {
  console.error(`cold-start budget exceeded:\n  ${overs.join("\n  ")}`);
  process.exit(1);
}
console.log(`cold-start budget met (bare Elysia ${bareCpu.toFixed(0)} ms CPU, median of ${ROUNDS} rounds)`);
// The Upstash gateway the runs started keeps the event loop alive.
process.exit(0);
