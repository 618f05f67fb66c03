/**
 * What compressing a JSON answer costs, per body size and encoding, through compressBody (the pipeline's and
 * the cache's one function): zstd 3, br 5 and gzip 6 take turns within each round; median time (range over
 * rounds) and output size. Under Bun, then the same script under Deno when the npm `deno` is installed.
 * Usage: `bun bench/compression.ts` (writes bench/results/compression.txt); `deno run -A bench/compression.ts`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ContentEncoding, compressBody } from "../lib/http/compression.ts";

const ROUNDS = Number(process.env.COMPRESSION_BENCH_ROUNDS ?? 15);
const SIZES = [1024, 10 * 1024, 100 * 1024, 325 * 1024];
const ENCODINGS: ContentEncoding[] = ["zstd", "br", "gzip"];
const here = fileURLToPath(new URL(".", import.meta.url));

/** A list answer like the API's (ids, names, timestamps, roles), cut to `bytes`: JSON compresses as it does. */
function jsonBody(bytes: number): Uint8Array {
  const items = [];
  let text = "";
  for (let i = 0; text.length < bytes; i++) {
    items.push({
      id: `mem_${(i * 2654435761).toString(36).padStart(8, "0")}`,
      email: `user${i}@example${i % 17}.com`,
      role: ["owner", "admin", "member"][i % 3],
      createdAt: new Date(1_700_000_000_000 + i * 86_400_123).toISOString(),
      lastSeenIp: `10.${i % 256}.${(i * 7) % 256}.${(i * 13) % 256}`,
    });
    text = JSON.stringify({ items, nextCursor: null });
  }
  return new TextEncoder().encode(text.slice(0, bytes));
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const format = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(0)} us` : `${ms.toFixed(2)} ms`);

function run(): string[] {
  const lines: string[] = [];
  for (const size of SIZES) {
    const body = jsonBody(size);
    // Enough calls per timing that the clock's resolution does not show.
    const calls = Math.max(1, Math.round((64 * 1024) / size));
    const times = new Map<ContentEncoding, number[]>(ENCODINGS.map((e) => [e, []]));
    const sizes = new Map<ContentEncoding, number>();
    for (let round = -1; round < ROUNDS; round++)
      for (const encoding of round % 2 === 0 ? ENCODINGS : [...ENCODINGS].reverse()) {
        const started = performance.now();
        let output = body;
        for (let i = 0; i < calls; i++) output = compressBody(body, encoding);
        if (round >= 0) times.get(encoding)?.push((performance.now() - started) / calls);
        sizes.set(encoding, output.byteLength);
      }
    for (const encoding of ENCODINGS) {
      const t = times.get(encoding) ?? [];
      const out = sizes.get(encoding) ?? 0;
      lines.push(
        `${`${(size / 1024).toFixed(0)} KiB`.padStart(7)}  ${encoding.padEnd(4)}  ` +
          `${format(median(t)).padStart(9)} (${format(Math.min(...t))}–${format(Math.max(...t))})  ` +
          `${String(out).padStart(7)} B (${((out / size) * 100).toFixed(1)} %)`,
      );
    }
  }
  return lines;
}

const isDeno = "Deno" in globalThis;
const runtime = isDeno
  ? `deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
  : `bun ${process.versions.bun}`;
const lines = [`## ${runtime}: size, encoding, median per call (range over ${ROUNDS} rounds), output`, ...run()];
console.log(lines.join("\n"));

if (!isDeno) {
  const deno = join(here, "../node_modules/.bin/deno");
  const report = [`# bun bench/compression.ts (${new Date().toISOString()})`, ...lines];
  if (existsSync(deno)) {
    const result = spawnSync(deno, ["run", "-A", join(here, "compression.ts")], { encoding: "utf8" });
    const output = result.status === 0 ? result.stdout.trim() : `## deno failed: ${result.stderr.trim()}`;
    console.log(output);
    report.push("", output);
  }
  writeFileSync(join(here, "results/compression.txt"), `${report.join("\n")}\n`);
}
