/**
 * The live WebSocket on one Bun server in this process (PGlite, or TEST_POSTGRES_URL when set): how many
 * connections it holds and the RSS each costs (client sockets live in the same process, so an upper bound),
 * events a second fanned out to REALTIME_BENCH_SUBSCRIBERS subscribers of one organization, and commit-to-
 * delivery latency p50/p99 at the default 500 ms poll and at a 50 ms poll, side by side in each of
 * REALTIME_BENCH_ROUNDS rounds. Writes bench/results/realtime.txt.
 */
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import keys from "../functions/keys.ts";
import { liveRoutes } from "../functions/live.ts";
import orgs from "../functions/orgs.ts";
import { sessions } from "../lib/db/schema/index.ts";
import { buildApp } from "../lib/http/app.ts";
import { issueTicket } from "../lib/live/live-tickets.ts";
import { LIVE_WEBSOCKET_SERVER } from "../lib/live/websocket-server.ts";
import { enqueueWebhookMessage } from "../lib/outbox/webhook-outbox.ts";
import { TEST_POSTGRES_URL } from "../test/backends.ts";
import { openIdentityTestApp } from "../test/identity-client.ts";

const SUBSCRIBERS = Number(process.env.REALTIME_BENCH_SUBSCRIBERS ?? 1_000);
const EVENTS = Number(process.env.REALTIME_BENCH_EVENTS ?? 50);
const ROUNDS = Math.max(1, Number(process.env.REALTIME_BENCH_ROUNDS ?? 3));
const RESULTS_FILE = join(import.meta.dir, "results", "realtime.txt");
const POLLS_MS = [500, 50];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
const summary = (values: number[], digits = 0) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;

const harness = await openIdentityTestApp(TEST_POSTGRES_URL === undefined ? "pglite" : "postgres");
const owner = await harness.client.createUser();
const orgId = await harness.client.createOrg(owner);
const [session] = await harness.runtime.db.primary
  .select({ id: sessions.id })
  .from(sessions)
  .where(eq(sessions.userId, owner.userId));
const grant = { kind: "user", userId: owner.userId, sessionId: session?.id ?? "", orgId } as const;

interface RoundResult {
  rssPerConnectionKiB: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

async function round(pollMs: number): Promise<RoundResult> {
  const app = buildApp(harness.runtime, [
    orgs,
    keys,
    liveRoutes({ pollMs, connectionCaps: { perSubject: SUBSCRIBERS + 10, perIp: SUBSCRIBERS + 10 } }),
  ]);
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch, websocket: LIVE_WEBSOCKET_SERVER });
  Bun.gc(true);
  const rssBefore = process.memoryUsage().rss;
  const commitAt = new Map<string, number>();
  const latencies: number[] = [];
  let delivered = 0;
  let lastDeliveryAt = 0;
  let firstDeliveryAt = Number.POSITIVE_INFINITY;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const { ticket } = await issueTicket(
      harness.runtime.store,
      { grant, scopes: ["events:read"], origin: null },
      Date.now(),
    );
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/v1/live`, {
      protocols: ["rampart.v1", `ticket.${ticket}`],
      headers: { "x-forwarded-for": `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
    } as unknown as string[]);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`connection ${i} did not open`));
    });
    socket.onmessage = (message) => {
      const parsed = JSON.parse(String(message.data)) as { kind: string; data?: { n?: string } };
      if (parsed.kind !== "event") return;
      const at = performance.now();
      const committed = commitAt.get(parsed.data?.n ?? "");
      if (committed !== undefined) latencies.push(at - committed);
      delivered++;
      lastDeliveryAt = at;
      if (at < firstDeliveryAt) firstDeliveryAt = at;
    };
    sockets.push(socket);
  }
  Bun.gc(true);
  const rssPerConnectionKiB = (process.memoryUsage().rss - rssBefore) / SUBSCRIBERS / 1024;
  const commit = async (n: number) => {
    await harness.runtime.db.primary.transaction((tx) =>
      enqueueWebhookMessage(tx, { orgId, type: "member.added", data: { n: String(n) } }, Date.now()),
    );
    commitAt.set(String(n), performance.now());
  };
  const waitForDeliveries = async (expected: number) => {
    for (let waited = 0; delivered < expected && waited < 30_000; waited += 20) await Bun.sleep(20);
  };
  // Latency: events committed one at a time, 20 ms apart, each timed from its commit to each delivery.
  for (let n = 0; n < EVENTS; n++) {
    await commit(n);
    await Bun.sleep(20);
  }
  await waitForDeliveries(SUBSCRIBERS * EVENTS);
  const sorted = [...latencies].sort((a, b) => a - b);
  // Throughput: a burst of events committed back to back, fanned out from the first delivery to the last.
  delivered = 0;
  firstDeliveryAt = Number.POSITIVE_INFINITY;
  for (let n = EVENTS; n < 2 * EVENTS; n++) await commit(n);
  await waitForDeliveries(SUBSCRIBERS * EVENTS);
  const burstDelivered = delivered;
  for (const socket of sockets) socket.close();
  server.stop(true);
  return {
    rssPerConnectionKiB,
    eventsPerSecond: burstDelivered / ((lastDeliveryAt - firstDeliveryAt) / 1000),
    p50Ms: percentile(sorted, 0.5) ?? Number.NaN,
    p99Ms: percentile(sorted, 0.99) ?? Number.NaN,
  };
}

// The first round, in a fresh process, prices a connection (RSS grows only then; later rounds reuse the
// memory freed by the last). Its other figures are not kept: it warms the allocator and JIT.
const { rssPerConnectionKiB } = await round(POLLS_MS[1] ?? 50);
const results = new Map<number, RoundResult[]>(POLLS_MS.map((poll) => [poll, []]));
for (let r = 0; r < ROUNDS; r++)
  for (const pollMs of r % 2 === 0 ? POLLS_MS : [...POLLS_MS].reverse()) {
    const result = await round(pollMs);
    results.get(pollMs)?.push(result);
    console.log(`round ${r + 1} poll ${pollMs} ms: ${JSON.stringify(result)}`);
  }

const lines = [
  `realtime: ${SUBSCRIBERS} WebSocket subscribers of one organization on one Bun server, ${EVENTS} events a round`,
  `database ${TEST_POSTGRES_URL === undefined ? "PGlite" : "PostgreSQL"}, ${ROUNDS} rounds, median (min–max)`,
  `machine: ${cpus().length} cores, load average ${loadavg()
    .map((load) => load.toFixed(1))
    .join(" ")} at the end`,
  "",
  `RSS per connection (first round, fresh process, client socket included): ${rssPerConnectionKiB.toFixed(1)} KiB`,
  "",
  "poll      connections held  events/s fanned out     commit→delivery p50 ms  p99 ms",
];
for (const [pollMs, rounds] of results)
  lines.push(
    [
      `${pollMs} ms`.padEnd(10),
      String(SUBSCRIBERS).padEnd(18),
      summary(rounds.map((x) => x.eventsPerSecond)).padEnd(24),
      summary(rounds.map((x) => x.p50Ms)).padEnd(24),
      summary(rounds.map((x) => x.p99Ms)),
    ].join(""),
  );
const text = `${lines.join("\n")}\n`;
console.log(text);
await Bun.write(RESULTS_FILE, text);
await harness.runtime.close();
process.exit(0);
