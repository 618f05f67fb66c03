/**
 * How far the sliding-window estimate lets a client past its limit, on an injected clock: admissions
 * are replayed through InProcessLimiter (the estimate @upstash/ratelimit's slidingWindow makes too), and
 * the most admitted in any rolling window, and in any fixed window, are compared with the limit.
 */
import { InProcessLimiter } from "../lib/guards/rate-limit/in-process-limiter.ts";

const WINDOW_MS = 60_000;
const WINDOWS = 200;
const LIMITS = [10, 50, 300];
const RESULTS_FILE = `${import.meta.dir}/results/sliding-window.txt`;

/** Sends at the given instants (ms, ascending) and returns the instants admitted. */
function admittedAt(limit: number, sendAt: readonly number[]): number[] {
  const clock = { now: 0 };
  const limiter = new InProcessLimiter(() => clock.now);
  const admitted: number[] = [];
  for (const at of sendAt) {
    clock.now = at;
    if (limiter.take("client", limit, WINDOW_MS).success) admitted.push(at);
  }
  return admitted;
}

/** The most admissions inside any window of WINDOW_MS, wherever it starts. */
function maxRolling(admitted: readonly number[]): number {
  let most = 0;
  for (let start = 0, end = 0; start < admitted.length; start++) {
    while (end < admitted.length && (admitted[end] as number) < (admitted[start] as number) + WINDOW_MS) end++;
    most = Math.max(most, end - start);
  }
  return most;
}

function maxFixed(admitted: readonly number[]): number {
  const perWindow = new Map<number, number>();
  for (const at of admitted)
    perWindow.set(Math.floor(at / WINDOW_MS), (perWindow.get(Math.floor(at / WINDOW_MS)) ?? 0) + 1);
  return Math.max(...perWindow.values());
}

// A seeded generator, so the figures are the same on every run.
let seed = 42;
const random = () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
};

const traffic: Record<string, (limit: number) => number[]> = {
  "steady at 1.1x the limit": (limit) => evenly(1.1 * limit),
  "steady at 2x the limit": (limit) => evenly(2 * limit),
  "steady at 10x the limit": (limit) => evenly(10 * limit),
  "random (Poisson) at 2x the limit": (limit) => {
    const times: number[] = [];
    for (let at = 0; at < WINDOWS * WINDOW_MS; at += (-Math.log(1 - random()) * WINDOW_MS) / (2 * limit))
      times.push(Math.floor(at));
    return times;
  },
  "one burst of 3x the limit, at one instant": (limit) => Array<number>(3 * limit).fill(Math.floor(WINDOW_MS / 3)),
  "a burst of 3x the limit a window, each at a random instant": (limit) =>
    Array.from({ length: WINDOWS }, (_, w) =>
      Array<number>(3 * limit).fill(Math.floor((w + random()) * WINDOW_MS)),
    ).flat(),
};

function evenly(perWindow: number): number[] {
  const gap = WINDOW_MS / perWindow;
  return Array.from({ length: Math.floor(WINDOWS * perWindow) }, (_, i) => Math.floor(i * gap));
}

const lines = [
  `# bun bench/sliding-window.ts (${new Date().toISOString()})`,
  `sliding-window estimate (InProcessLimiter, as @upstash/ratelimit's slidingWindow), ${WINDOWS} windows of ` +
    `${WINDOW_MS / 1000} s on an injected clock`,
  "most admitted in any rolling window and in any fixed window, as a share of the limit",
  "",
  `${"traffic".padEnd(58)}${"limit".padStart(6)}${"rolling".padStart(10)}${"fixed".padStart(8)}`,
];
for (const [name, sendAt] of Object.entries(traffic)) {
  for (const limit of LIMITS) {
    const admitted = admittedAt(limit, sendAt(limit));
    const share = (count: number) => `${((100 * count) / limit).toFixed(1)}%`;
    lines.push(
      `${name.padEnd(58)}${String(limit).padStart(6)}${share(maxRolling(admitted)).padStart(10)}` +
        `${share(maxFixed(admitted)).padStart(8)}`,
    );
  }
}
const text = `${lines.join("\n")}\n`;
process.stdout.write(text);
await Bun.write(RESULTS_FILE, text);
