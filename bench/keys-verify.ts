/**
 * The verify endpoint beside a public route and the key-authenticated route, in one process and one run, rounds
 * alternating between them: requests handed to `app.fetch` 16 at a time. Four variants:
 *   public   GET, no credentials;
 *   key      GET, an API key (cached: no database);
 *   credited GET, an API key with usage credits (one spend per request);
 *   verify   POST /v1/keys/verify, a root key (keys:verify) verifying a key with credits.
 * Prints requests per second (median and range over rounds), each variant's ratio to `key` per round, and store
 * round trips per request (a counting Proxy around the store): credits may add at most one.
 * Usage: `source /tmp/svc-<name>.env && bun run bench:keys-verify` (Redis through the Upstash gateway when
 * TEST_REDIS_URL is set, the in-process store otherwise; PGlite).
 */
import { Elysia } from "elysia";
import keys from "../functions/keys.ts";
import { createApiKey } from "../lib/auth/api-keys.ts";
import { loadConfig } from "../lib/config/config.ts";
import { perKey } from "../lib/core/policy-presets.ts";
import { organizations } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createLogger } from "../lib/log/logger.ts";
import { openRuntime } from "../lib/runtime/runtime.ts";
import { openTestDatabase, openTestStore, TEST_REDIS_URL } from "../test/backends.ts";
import { countingStore } from "../test/counting-store.ts";

const ROUNDS = Number(process.env.KEYS_BENCH_ROUNDS ?? 7);
const REQUESTS = Number(process.env.KEYS_BENCH_REQUESTS ?? 2_000);
const CONCURRENCY = 16;

// The key route counts per key, as the routes in functions/ do: the same rate-limit work in `key` and `credited`.
const benchRoutes = defineRouteGroup("bench", () =>
  new Elysia({ name: "bench" })
    .use(policyPlugin)
    .get("/bench/public", () => ({ ok: true }), { public: { body: "none", rateLimits: [] } })
    .get("/bench/key", ({ key }) => ({ keyId: key.keyId }), {
      key: { body: "none", rateLimits: [perKey(100_000_000, "1m")] },
    }),
);

const storeKind = TEST_REDIS_URL === undefined ? "memory" : "upstash";
const quiet = createLogger({ level: "error", sink: () => {} });
const db = await openTestDatabase("pglite", quiet);
await db.migrate();
const counting = countingStore(await openTestStore(storeKind, quiet));
const runtime = await openRuntime(loadConfig({ NODE_ENV: "test", LOG_LEVEL: "error" }), {
  logger: quiet,
  db,
  store: counting.store,
});
const app: RampartApp = buildApp(runtime, [benchRoutes, keys]);
const [org] = await db.primary.insert(organizations).values({ name: "Bench" }).returning();
if (org === undefined) throw new Error("no org row");
const issue = (input: Parameters<typeof createApiKey>[3]) => createApiKey(runtime, { type: "system" }, org.id, input);
const plain = await issue({ name: "plain", scopes: ["orgs:read"] });
const metered = await issue({ name: "metered", scopes: ["orgs:read"], credits: { remaining: 1_000_000_000 } });
const root = await issue({ name: "root", scopes: ["keys:verify"] });

const get = (path: string, key?: string) =>
  new Request(`http://localhost${path}`, { headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });
const VARIANTS: Record<string, () => Request> = {
  public: () => get("/bench/public"),
  key: () => get("/bench/key", plain.key),
  credited: () => get("/bench/key", metered.key),
  verify: () =>
    new Request("http://localhost/v1/keys/verify", {
      method: "POST",
      headers: { authorization: `Bearer ${root.key}`, "content-type": "application/json" },
      body: JSON.stringify({ key: metered.key }),
    }),
};

async function run(make: () => Request, count: number): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next++ < count) {
      const response = await app.fetch(make());
      if (response.status !== 200) throw new Error(`unexpected ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return count / ((performance.now() - started) / 1000);
}

// Warm: caches loaded, scripts on the server, the JIT settled.
for (const make of Object.values(VARIANTS)) await run(make, 500);

const roundTrips: Record<string, number> = {};
for (const [name, make] of Object.entries(VARIANTS)) {
  counting.calls.length = 0;
  await run(make, 200);
  roundTrips[name] = counting.calls.filter((call) => call !== "isDegraded").length / 200;
}

const perSecond: Record<string, number[]> = Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, []]));
const ratios: Record<string, number[]> = Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  const names = Object.keys(VARIANTS);
  // Alternate the order, so drift on a shared machine does not favour one variant.
  if (round % 2 === 1) names.reverse();
  const thisRound: Record<string, number> = {};
  for (const name of names) thisRound[name] = await run(VARIANTS[name] as () => Request, REQUESTS);
  for (const name of names) {
    perSecond[name]?.push(thisRound[name] as number);
    ratios[name]?.push((thisRound[name] as number) / (thisRound.key as number));
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const range = (values: number[], digits: number) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

console.log(
  `keys-verify: store ${storeKind}, ${ROUNDS} rounds × ${REQUESTS} requests per variant, ${CONCURRENCY} at a time`,
);
console.log(`load average at the end: ${(await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ")}`);
console.log("variant    req/s median (range)        ratio to key median (range)   store calls/request");
for (const name of Object.keys(VARIANTS)) {
  const rps = perSecond[name] as number[];
  const ratio = ratios[name] as number[];
  console.log(
    `${name.padEnd(10)} ${median(rps).toFixed(0).padStart(7)} (${range(rps, 0)})`.padEnd(38) +
      `${median(ratio).toFixed(2)} (${range(ratio, 2)})`.padEnd(30) +
      `${roundTrips[name]?.toFixed(2)}`,
  );
}
console.log(
  `extra store calls per credited request: ${((roundTrips.credited ?? 0) - (roundTrips.key ?? 0)).toFixed(2)}`,
);
await runtime.services.identity.apiKeys.settled();
await db.close();
process.exit(0);
