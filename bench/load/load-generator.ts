/**
 * The load generator: a closed model (N callers, each sending its next request when the last is answered) for
 * baselines and concurrency steps, and an open model (requests arrive on a fixed schedule whatever the server
 * does) for the breaking point. Open-model latency runs from the moment a request was due, not when it was
 * sent, so a server that falls behind shows it (no coordinated omission).
 */
import { emptyTally, type RouteTally } from "./latency-summary.ts";

export interface LoadRoute {
  readonly name: string;
  /** The next request to send; called once per request, so each may differ (a fresh webhook id). */
  next(): { url: string; init: RequestInit };
}

/** One tally per route, and the wall time from the first request to the last answer. */
export interface LoadRun {
  tallies: Map<string, RouteTally>;
  seconds: number;
}

/** Routes to send, each `weight` times per turn of the mix. */
export type RouteMix = readonly { route: LoadRoute; weight: number }[];

export interface GeneratorOptions {
  /** A request unanswered this long counts as a failure. @default 10_000 */
  requestTimeoutMs?: number;
  /** Open model: arrivals past this many in flight are dropped and counted, to spare the generator. @default 2_000 */
  maxInFlight?: number;
}

const DEFAULT_GENERATOR: Required<GeneratorOptions> = { requestTimeoutMs: 10_000, maxInFlight: 2_000 };

/** The mix unrolled into one turn: `[a, a, a, b]` for weights 3 and 1. */
function unroll(mix: RouteMix): LoadRoute[] {
  return mix.flatMap(({ route, weight }) => Array.from({ length: weight }, () => route));
}

async function sendOne(route: LoadRoute, tally: RouteTally, dueAt: number, timeoutMs: number): Promise<void> {
  const { url, init } = route.next();
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    tally.latenciesMs.push(performance.now() - dueAt);
    tally.statuses.set(response.status, (tally.statuses.get(response.status) ?? 0) + 1);
    const cache = response.headers.get("x-cache");
    if (cache !== null) tally.cache.set(cache, (tally.cache.get(cache) ?? 0) + 1);
  } catch {
    tally.failures++;
  }
}

function talliesFor(mix: RouteMix): Map<string, RouteTally> {
  return new Map(mix.map(({ route }) => [route.name, emptyTally()]));
}

/** `concurrency` callers send the mix in turn for `durationMs`; answers one tally per route. */
export async function runClosed(
  mix: RouteMix,
  concurrency: number,
  durationMs: number,
  options: GeneratorOptions = {},
): Promise<LoadRun> {
  const { requestTimeoutMs } = { ...DEFAULT_GENERATOR, ...options };
  const turn = unroll(mix);
  const tallies = talliesFor(mix);
  const endsAt = performance.now() + durationMs;
  let sent = 0;
  const caller = async () => {
    while (performance.now() < endsAt) {
      const route = turn[sent++ % turn.length] as LoadRoute;
      await sendOne(route, tallies.get(route.name) as RouteTally, performance.now(), requestTimeoutMs);
    }
  };
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { tallies, seconds: (performance.now() - startedAt) / 1000 };
}

/** Requests arrive at `ratePerSecond`, evenly spaced, for `durationMs`, whatever the answers take. */
export async function runOpen(
  mix: RouteMix,
  ratePerSecond: number,
  durationMs: number,
  options: GeneratorOptions = {},
): Promise<LoadRun> {
  const { requestTimeoutMs, maxInFlight } = { ...DEFAULT_GENERATOR, ...options };
  const turn = unroll(mix);
  const tallies = talliesFor(mix);
  const intervalMs = 1000 / ratePerSecond;
  const total = Math.floor((durationMs / 1000) * ratePerSecond);
  const startedAt = performance.now();
  const pending = new Set<Promise<void>>();
  let launched = 0;
  while (launched < total) {
    // Timers fire late on a busy machine: send every arrival already due, each timed from its own due moment.
    const due = Math.min(total, Math.floor((performance.now() - startedAt) / intervalMs) + 1);
    for (; launched < due; launched++) {
      const route = turn[launched % turn.length] as LoadRoute;
      const tally = tallies.get(route.name) as RouteTally;
      if (pending.size >= maxInFlight) {
        tally.dropped++;
        continue;
      }
      const sent = sendOne(route, tally, startedAt + launched * intervalMs, requestTimeoutMs);
      pending.add(sent);
      sent.finally(() => pending.delete(sent));
    }
    await Bun.sleep(Math.max(0, startedAt + launched * intervalMs - performance.now()));
  }
  await Promise.all(pending);
  // Answers that come after the last arrival stretch the run: a server that falls behind achieves less.
  return { tallies, seconds: (performance.now() - startedAt) / 1000 };
}
