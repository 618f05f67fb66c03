/**
 * The response cache under a seed-like read-heavy mix: two app instances (each its own runtime, database client
 * and store client, so its own in-process layer and view of the tag versions) over one scratch PostgreSQL
 * database and the test Redis through the Upstash gateway; requests handed to `app.fetch` in process,
 * alternating between the instances.
 *
 * 1. Mix: keys drawn by Zipf (s = 1) over 1,000 rows, 5% writes (the row updated, then its tag purged after the
 *    commit). Prints the hit ratio ((HIT + STALE + 304) / reads), the ceiling any cache reaches on this mix (the
 *    first read of a key after its write must compute), the store round trips per hit (a counting Proxy around
 *    each store, as lib/cache/response-cache.test.ts does) and the stale reads after an acknowledged write: a
 *    read of the key on the writer's instance at once, or on the other instance once the in-process layer's
 *    second has passed, that shows an older value.
 * 2. Cached vs uncached GET of the same row (the same handler, without `cache`), rounds alternating: CPU time
 *    per request (the whole process) and p50/p99 latency; medians with ranges over rounds.
 * Usage: `source /tmp/svc-<name>.env && bun bench/cache.ts` (needs TEST_POSTGRES_URL and TEST_REDIS_URL).
 */
import { eq, sql } from "drizzle-orm";
import { integer, pgTable } from "drizzle-orm/pg-core";
import { Elysia } from "elysia";
import { purgedAfter } from "../lib/cache/purge-after-commit.ts";
import { DEFAULT_RESPONSE_CACHE_OPTIONS } from "../lib/cache/response-cache.ts";
import { loadConfig } from "../lib/config/config.ts";
import type { CacheFacts } from "../lib/core/cache-policy.ts";
import type { AccessPolicy } from "../lib/core/route-policy.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createLogger } from "../lib/log/logger.ts";
import { openRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import {
  createScratchDatabase,
  openTestDatabase,
  openTestStore,
  TEST_POSTGRES_URL,
  TEST_REDIS_URL,
} from "../test/backends.ts";
import { countingStore } from "../test/counting-store.ts";

const KEYS = 1_000;
const WRITE_SHARE = 0.05;
const MIX_REQUESTS = Number(process.env.CACHE_BENCH_REQUESTS ?? 40_000);
const ROUNDS = Number(process.env.CACHE_BENCH_ROUNDS ?? 7);
const REQUESTS_PER_ROUND = Number(process.env.CACHE_BENCH_ROUND_REQUESTS ?? 1_000);

if (TEST_POSTGRES_URL === undefined || TEST_REDIS_URL === undefined)
  throw new Error("TEST_POSTGRES_URL and TEST_REDIS_URL must be set (source the .ci/start-services output)");

const items = pgTable("bench_items", { id: integer("id").primaryKey(), value: integer("value").notNull() });

const POLICY: AccessPolicy = { body: "none", rateLimits: [] };
const benchRoutes = defineRouteGroup("bench", (runtime: Runtime) => {
  const itemValue = async (id: number) =>
    (await runtime.db.primary.select().from(items).where(eq(items.id, id)))[0]?.value ?? null;
  return new Elysia({ name: "bench" })
    .use(policyPlugin)
    .get(
      "/bench/items/:id",
      async ({ params }) => ({ id: Number(params.id), value: await itemValue(Number(params.id)) }),
      {
        public: {
          ...POLICY,
          cache: { scope: "public", ttl: "60s", tags: ({ params }: CacheFacts) => [`item:${params.id}`] },
        },
      },
    )
    .get(
      "/bench/plain/:id",
      async ({ params }) => ({ id: Number(params.id), value: await itemValue(Number(params.id)) }),
      {
        public: POLICY,
      },
    )
    .post(
      "/bench/items/:id",
      async ({ params }) => {
        const id = Number(params.id);
        const updated = runtime.db.primary
          .update(items)
          .set({ value: sql`${items.value} + 1` })
          .where(eq(items.id, id))
          .returning({ value: items.value });
        const [row] = await purgedAfter(runtime, [`item:${id}`], updated);
        return { id, value: row?.value ?? null };
      },
      { public: POLICY },
    );
});

/** Zipf (s = 1) over 1..KEYS by its cumulative distribution; a seeded generator keeps runs comparable. */
function zipf(seed: number): () => number {
  const weights = Array.from({ length: KEYS }, (_, i) => 1 / (i + 1));
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  const cdf = weights.map((w) => {
    sum += w / total;
    return sum;
  });
  let state = seed >>> 0;
  return () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    let [lo, hi] = [0, KEYS - 1];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  };
}

const quiet = createLogger({ level: "error", sink: () => {} });
const scratch = await createScratchDatabase();
const config = loadConfig({ NODE_ENV: "test", LOG_LEVEL: "error" });
const instances: { app: RampartApp; calls: string[]; close(): Promise<void> }[] = [];
for (let i = 0; i < 2; i++) {
  const database = await openTestDatabase("postgres", quiet, scratch.url);
  const counting = countingStore(await openTestStore("upstash", quiet));
  const runtime = await openRuntime(config, { logger: quiet, db: database, store: counting.store });
  instances.push({ app: buildApp(runtime, [benchRoutes]), calls: counting.calls, close: () => database.close() });
}
const seeder = await openTestDatabase("postgres", quiet, scratch.url);
await seeder.primary.execute(sql`create table bench_items (id integer primary key, value integer not null)`);
await seeder.primary.execute(sql`insert into bench_items select g, 0 from generate_series(1, ${KEYS}) g`);
// Tag versions live on in Redis between runs: start each key from a version no entry was stored under.
const run = crypto.randomUUID().slice(0, 8);
const server = { requestIP: () => ({ address: "127.0.0.1" }) };
const call = (app: RampartApp, method: string, path: string) =>
  app.fetch(new Request(`http://localhost${path}?run=${run}`, { method }), server);

// 1. The mix.
const next = zipf(14);
const lastWrite = new Map<number, { value: number; instance: number; at: number }>();
const readSince = new Set<number>();
const counts = { reads: 0, writes: 0, hit: 0, stale: 0, notModified: 0, miss: 0, other: 0 };
// The second half, once the keys the Zipf head draws are warm.
const warm = { reads: 0, hits: 0, mustCompute: 0 };
const hitCalls: number[] = [];
// What a hit that took more than one store call made: what else ran on the instance meanwhile, if anything.
const overOne: string[] = [];
let [staleAfterAck, checkedAfterAck, oldWithinWindow, mustCompute] = [0, 0, 0, 0];
const mixStarted = performance.now();
for (let i = 0; i < MIX_REQUESTS; i++) {
  const which = i % 2;
  const instance = instances[which] as (typeof instances)[number];
  const key = next();
  if (Math.random() < WRITE_SHARE) {
    const response = await call(instance.app, "POST", `/bench/items/${key}`);
    if (response.status !== 200) throw new Error(`write: ${response.status} ${await response.text()}`);
    const { value } = (await response.json()) as { value: number };
    lastWrite.set(key, { value, instance: which, at: performance.now() });
    readSince.delete(key);
    counts.writes++;
    continue;
  }
  const before = instance.calls.length;
  const response = await call(instance.app, "GET", `/bench/items/${key}`);
  const calls = instance.calls.length - before;
  if (response.status !== 200 && response.status !== 304) throw new Error(`read: ${response.status}`);
  const body = response.status === 304 ? undefined : ((await response.json()) as { value: number });
  counts.reads++;
  // Any cache must compute the first read of a key since its last write (or ever).
  const first = !readSince.has(key);
  if (first) mustCompute++;
  readSince.add(key);
  const status = response.status === 304 ? "304" : response.headers.get("x-cache");
  if (status === "HIT") counts.hit++;
  else if (status === "STALE") counts.stale++;
  else if (status === "304") counts.notModified++;
  else if (status === "MISS") counts.miss++;
  else counts.other++;
  const hit = status === "HIT" || status === "STALE" || status === "304";
  if (hit) hitCalls.push(calls);
  if (hit && calls > 1) overOne.push(instance.calls.slice(before).join("+"));
  if (i >= MIX_REQUESTS / 2) {
    warm.reads++;
    if (hit) warm.hits++;
    if (first) warm.mustCompute++;
  }
  const write = lastWrite.get(key);
  if (write === undefined || body === undefined) continue;
  const settled = write.instance === which || performance.now() - write.at > DEFAULT_RESPONSE_CACHE_OPTIONS.memoryMs;
  if (settled) {
    checkedAfterAck++;
    if (body.value < write.value) staleAfterAck++;
  } else if (body.value < write.value) oldWithinWindow++;
}
const mixSeconds = (performance.now() - mixStarted) / 1000;

// 2. Cached vs uncached, the same keys in the same order, rounds alternating.
const cpu = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))] as number;
const median = (values: number[]) => percentile(values, 0.5);
const variants = [
  { label: "cached GET /bench/items/:id", path: "/bench/items/" },
  { label: "uncached GET /bench/plain/:id", path: "/bench/plain/" },
];
const figures = new Map(
  variants.map((v) => [v.label, { cpu: [] as number[], p50: [] as number[], p99: [] as number[] }]),
);
for (let round = 0; round <= ROUNDS; round++) {
  for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
    const draw = zipf(1000 + round);
    const latencies: number[] = [];
    const started = cpu();
    for (let i = 0; i < REQUESTS_PER_ROUND; i++) {
      const sent = performance.now();
      const response = await call((instances[i % 2] as (typeof instances)[number]).app, "GET", variant.path + draw());
      await response.arrayBuffer();
      latencies.push((performance.now() - sent) * 1000);
    }
    // Round 0 warms up and is not kept.
    if (round === 0) continue;
    const kept = figures.get(variant.label) as { cpu: number[]; p50: number[]; p99: number[] };
    kept.cpu.push((cpu() - started) / REQUESTS_PER_ROUND);
    kept.p50.push(percentile(latencies, 0.5));
    kept.p99.push(percentile(latencies, 0.99));
  }
}

const range = (values: number[]) =>
  `${median(values).toFixed(0).padStart(6)} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
const pct = (part: number, whole: number) => `${((part / whole) * 100).toFixed(2)} %`;
const hits = counts.hit + counts.stale + counts.notModified;
const fromMemory = hitCalls.filter((n) => n === 0).length;
const lines = [
  `bun ${Bun.version}; 2 instances over one PostgreSQL scratch database and Redis (Upstash gateway), app.fetch ` +
    "in process, alternating",
  "",
  `## mix: ${MIX_REQUESTS} requests, Zipf s=1 over ${KEYS} keys, ${WRITE_SHARE * 100}% writes purging item:<id> ` +
    `after commit (${mixSeconds.toFixed(1)} s)`,
  `reads ${counts.reads}, writes ${counts.writes}; HIT ${counts.hit}, STALE ${counts.stale}, ` +
    `304 ${counts.notModified}, MISS ${counts.miss}, other ${counts.other}`,
  `hit ratio (HIT + STALE + 304) / reads: ${pct(hits, counts.reads)} (goal > 95 %)`,
  `second half (warm): ${pct(warm.hits, warm.reads)} of ${warm.reads} reads; ceiling ` +
    pct(warm.reads - warm.mustCompute, warm.reads),
  "ceiling on this mix (reads that are not the first of their key, on either instance, since its last write " +
    "or ever; an instance's in-process layer may beat it within its second): " +
    pct(counts.reads - mustCompute, counts.reads),
  `stale reads after an acknowledged write: ${staleAfterAck} of ${checkedAfterAck} checked (goal 0); ` +
    `old values on the other instance within its ${DEFAULT_RESPONSE_CACHE_OPTIONS.memoryMs} ms in-process window ` +
    `(allowed): ${oldWithinWindow}`,
  `store round trips per hit: mean ${(hitCalls.reduce((a, b) => a + b, 0) / hitCalls.length).toFixed(3)}, ` +
    `max ${Math.max(...hitCalls)} (goal <= 1); ` +
    `${pct(fromMemory, hitCalls.length)} of hits from the in-process layer;` +
    ` hits over one: ${overOne.length} (${[...new Set(overOne)].join(", ") || "none"})`,
  "",
  `## cached vs uncached GET, same handler and keys: ${REQUESTS_PER_ROUND} reads a round, ${ROUNDS} rounds after a ` +
    "warm-up, alternating; median (range over rounds)",
  `${"".padEnd(32)}${"CPU us/req".padStart(18)}${"p50 us".padStart(18)}${"p99 us".padStart(18)}`,
  ...variants.map(({ label }) => {
    const f = figures.get(label) as { cpu: number[]; p50: number[]; p99: number[] };
    return `${label.padEnd(32)}${range(f.cpu).padStart(18)}${range(f.p50).padStart(18)}${range(f.p99).padStart(18)}`;
  }),
];
const text = `${lines.join("\n")}\n`;
process.stdout.write(text);
for (const instance of instances) await instance.close();
await seeder.close();
await scratch.drop();
process.exit(0);
