/**
 * Rate limits when Redis is slow rather than down: two app instances share one Redis whose replies a TCP
 * relay delays. A fail-closed rule waits for the slow answer and never counts in-process; a fail-open one
 * admits at most its instance's share in-process; after an outage closed rules answer again promptly.
 * Runs when TEST_REDIS_URL is set (`.ci/start-services`).
 */
import { expect, test } from "bun:test";
import { Elysia } from "elysia";
import { loadConfig } from "../lib/config/config.ts";
import type { Database } from "../lib/db/database.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createLogger } from "../lib/log/logger.ts";
import { createBreaker } from "../lib/resilience/breaker.ts";
import { openRuntime } from "../lib/runtime/runtime.ts";
import { settingsFromConfig, staticSettings } from "../lib/settings/settings.ts";
import { FallbackStore } from "../lib/store/fallback-store.ts";
import { UpstashStore } from "../lib/store/upstash-store.ts";
import { GATEWAY_TOKEN, openTestDatabase, TEST_REDIS_URL, upstashGatewayUrl } from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { startTcpRelay, type TcpRelay } from "./tcp-relay.ts";

const INSTANCES = 2;
const OPEN_LIMIT = 10;
const CLOSED_LIMIT = 5;
// A day: a burst of a few seconds straddling a window edge is the sliding window's own one-request rounding, not what
// these tests measure.
const WINDOW_MS = 86_400_000;
/** The closed route's own deadline (class "auth"): how long its rule may wait for Redis. */
const CLOSED_WAIT_MS = 3_000;
/** Each way, so a round trip takes twice this: past STORE_TIMEOUT_MS (250), well within CLOSED_WAIT_MS. */
const SLOW_MS = 200;
/** The rate-limit breaker half-opens after 2 s; one slow answer then closes it. */
const RECOVERY_BOUND_MS = 2_000 + 4 * SLOW_MS + 2_000;

const limited = defineRouteGroup("limited", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/open", () => ({ ok: true }), {
      policy: { access: "public", rateLimits: [{ name: "open", limit: OPEN_LIMIT, windowMs: WINDOW_MS, scope: "ip" }] },
    })
    .post("/closed", () => ({ ok: true }), {
      policy: {
        access: "public",
        timeout: "auth",
        rateLimits: [
          { name: "closed", limit: CLOSED_LIMIT, windowMs: WINDOW_MS, scope: "ip", onStoreFailure: "closed" },
        ],
      },
    }),
);

const quiet = createLogger({ sink: () => {} });
const octet = () => 1 + Math.floor(Math.random() * 250);
/** A client the shared Redis has not seen in this window. */
const freshClient = () => `198.${18 + Math.floor(Math.random() * 2)}.${octet()}.${octet()}`;
const fromProxy = { requestIP: () => ({ address: "10.0.0.1" }) };

describeWithServers(["redis"], "rate limits over a slow Redis", ({ beforeAll, afterAll }) => {
  let relay: TcpRelay;
  let db: Database;
  let apps: RampartApp[];

  beforeAll(async () => {
    const redis = new URL(TEST_REDIS_URL ?? "");
    relay = startTcpRelay({ hostname: redis.hostname, port: Number(redis.port) });
    const gateway = await upstashGatewayUrl(`redis://127.0.0.1:${relay.port}`);
    db = await openTestDatabase("pglite");
    const config = loadConfig({ NODE_ENV: "test", TRUST_PROXY: "1", RATE_LIMIT_INSTANCES: String(INSTANCES) });
    const base = settingsFromConfig(config);
    // Refusals here must not auto-block the test's clients.
    const settings = {
      ...base,
      blocking: { ...base.blocking, threshold: 1_000_000 },
      timeoutsMs: { ...base.timeoutsMs, auth: CLOSED_WAIT_MS },
    };
    apps = [];
    for (let i = 0; i < INSTANCES; i++) {
      const store = new FallbackStore(
        new UpstashStore({ url: gateway, token: GATEWAY_TOKEN, timeoutMs: 250 }),
        createBreaker("redis", quiet),
        quiet,
      );
      apps.push(
        buildApp(await openRuntime(config, { db, store, settings: staticSettings(settings), logger: quiet }), [
          limited,
        ]),
      );
    }
    // The first call on each instance loads the limiter's script.
    for (const app of apps) await send(app, "/open", freshClient());
  }, 30_000);

  afterAll(async () => {
    relay.close();
    await db.close();
  });

  const send = (app: RampartApp, path: string, client: string) =>
    app.fetch(
      new Request(`http://localhost${path}`, {
        method: path === "/open" ? "GET" : "POST",
        headers: { "x-forwarded-for": client },
      }),
      fromProxy,
    );
  const statusesOf = async (responses: Promise<Response>[]) =>
    (await Promise.all(responses)).map((response) => response.status);
  const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

  test("a closed rule waits for a store slower than STORE_TIMEOUT_MS: exactly its limit is admitted, the rest get " +
    "429, none 503", async () => {
    relay.delay(SLOW_MS);
    try {
      const client = freshClient();
      const statuses: number[] = [];
      for (let i = 0; i < CLOSED_LIMIT + 3; i++)
        statuses.push((await send(apps[i % INSTANCES] as RampartApp, "/closed", client)).status);
      expect(statuses).toEqual([...Array(CLOSED_LIMIT).fill(200), 429, 429, 429]);
    } finally {
      relay.delay(0);
    }
  }, 30_000);

  test("an open rule whose store answers too late admits at most its " +
    "instance's share in-process on each instance", async () => {
    relay.delay(SLOW_MS);
    try {
      const client = freshClient();
      const share = Math.ceil(OPEN_LIMIT / INSTANCES);
      const perInstance = await Promise.all(
        apps.map((app) => statusesOf(Array.from({ length: OPEN_LIMIT }, () => send(app, "/open", client)))),
      );
      const admitted = perInstance.map((statuses) => count(statuses, 200));
      for (const statuses of perInstance) expect(count(statuses, 200) + count(statuses, 429)).toBe(OPEN_LIMIT);
      // Every answer is late here, so the whole fleet admits the limit, not INSTANCES times it.
      expect(admitted).toEqual(Array(INSTANCES).fill(share));
    } finally {
      relay.delay(0);
    }
  }, 30_000);

  test("an open rule falling back in-process starts from the last " +
    "count the store gave: 8 of 10 used leaves 2", async () => {
    const client = freshClient();
    const [app] = apps as [RampartApp];
    const before = await statusesOf(Array.from({ length: 8 }, () => send(app, "/open", client)));
    expect(before).toEqual(Array(8).fill(200));
    relay.delay(SLOW_MS);
    try {
      const during = await statusesOf(Array.from({ length: OPEN_LIMIT }, () => send(app, "/open", client)));
      expect(count(during, 200)).toBe(2);
      expect(count(during, 429)).toBe(OPEN_LIMIT - 2);
    } finally {
      relay.delay(0);
    }
  }, 30_000);

  test(`after an outage, a closed rule admits again within ${RECOVERY_BOUND_MS} ms of the store answering, even ` +
    `slowly`, async () => {
    const [app] = apps as [RampartApp];
    relay.kill();
    try {
      // Enough failures to open the breaker; each is a 503 the client may retry.
      for (let i = 0; i < 4; i++) {
        const refused = await send(app, "/closed", freshClient());
        expect(refused.status).toBe(503);
        expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      }
    } finally {
      relay.revive();
    }
    // Back, but slower than STORE_TIMEOUT_MS, as under CPU saturation.
    relay.delay(SLOW_MS);
    try {
      const backAt = performance.now();
      let status = 0;
      while (status !== 200 && performance.now() - backAt < 3 * RECOVERY_BOUND_MS) {
        status = (await send(app, "/closed", freshClient())).status;
        if (status !== 200) await Bun.sleep(100);
      }
      expect(status).toBe(200);
      expect(performance.now() - backAt).toBeLessThanOrEqual(RECOVERY_BOUND_MS);
    } finally {
      relay.delay(0);
    }
  }, 60_000);
});
