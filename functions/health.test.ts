import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { loadConfig } from "../lib/config/config.ts";
import { openNeon } from "../lib/db/neon.ts";
import { openPostgres } from "../lib/db/postgres.ts";
import { createReadinessCheck } from "../lib/health/readiness.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createLogger } from "../lib/log/logger.ts";
import { createBreaker } from "../lib/resilience/breaker.ts";
import { deriveRuntime, openRuntime } from "../lib/runtime/runtime.ts";
import { FallbackStore } from "../lib/store/fallback-store.ts";
import { MemoryStore } from "../lib/store/memory-store.ts";
import { UpstashStore } from "../lib/store/upstash-store.ts";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  createScratchDatabase,
  GATEWAY_TOKEN,
  neonProxyAddress,
  openTestDatabase,
  openTestRuntime,
  TEST_REDIS_URL,
  type TestRuntime,
  upstashGatewayUrl,
} from "../test/backends.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { startTcpRelay } from "../test/tcp-relay.ts";
import health from "./health.ts";

const get = (app: RampartApp, path: string) => app.fetch(new Request(`http://localhost${path}`));
const config = loadConfig({ NODE_ENV: "test", READINESS_CACHE_MS: "100" });
const quiet = createLogger({ sink: () => {} });

async function waitForStatus(app: RampartApp, status: number, withinMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < withinMs) {
    if ((await get(app, "/health/ready")).status === status) return performance.now() - started;
    await Bun.sleep(25);
  }
  throw new Error(`/health/ready did not answer ${status} within ${withinMs} ms`);
}

describe("health on embedded defaults", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  beforeAll(async () => {
    runtime = await openTestRuntime();
    app = buildApp(runtime, [health]);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("a readiness report is reused for cacheMs, then the dependencies are probed again", async () => {
    let time = 0;
    const checkReadiness = createReadinessCheck(runtime, { cacheMs: 1_000, now: () => time });
    const first = await checkReadiness();
    expect(first.status).toBe("ready");
    time += 999;
    expect(await checkReadiness()).toBe(first);
    time += 1;
    const second = await checkReadiness();
    expect(second).not.toBe(first);
    expect(second.status).toBe("ready");
  });

  test("live answers 200 while the process serves", async () => {
    const response = await get(app, "/health/live");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "live" });
  });

  test("ready is 200 with each dependency's status and latency", async () => {
    const response = await get(app, "/health/ready");
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      status: string;
      checks: Record<string, { status: string; latencyMs: number; driver: string }>;
    };
    expect(body.status).toBe("ready");
    expect(body.checks.database).toMatchObject({ status: "up", driver: "pglite" });
    expect(body.checks.store).toMatchObject({ status: "up", driver: "memory" });
    expect(body.checks.database?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  test("a burst of readiness probes costs one database round trip", async () => {
    const db = runtime.db;
    let pings = 0;
    const ping = (signal?: AbortSignal) => {
      pings++;
      return db.ping(signal);
    };
    const counted = deriveRuntime(runtime, { db: { ...db, ping } });
    const probed = buildApp(counted, [health]);
    const statuses = await Promise.all(
      Array.from({ length: 50 }, () => get(probed, "/health/ready").then((r) => r.status)),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(pings).toBe(1);
  });

  test("ready is 503 while shutting down", async () => {
    const local = deriveRuntime(runtime, { lifecycle: { shuttingDown: false } });
    const probed = buildApp(local, [health]);
    expect((await get(probed, "/health/ready")).status).toBe(200);
    local.lifecycle.shuttingDown = true;
    // The app itself refuses new requests while draining; readiness reports the same state.
    expect((await get(probed, "/health/ready")).status).toBe(503);
  });
});

describe("health probes from an automatically blocked address", () => {
  const LOAD_BALANCER = "10.0.0.7";
  const status = defineRouteGroup("status", () =>
    new Elysia()
      .use(policyPlugin)
      .get("/status", () => ({ ok: true }), { policy: { access: "public", rateLimits: [] } }),
  );
  let runtime: TestRuntime;
  // Opening PGlite and migrating it takes a few seconds on a loaded machine.
  beforeAll(async () => {
    runtime = await openTestRuntime({ env: { TRUST_PROXY: "1" } });
  }, 30_000);
  afterAll(() => runtime.close());

  test("live and ready still answer 200, while other routes refuse the address", async () => {
    const app = buildApp(runtime, [health, status]);
    const blocker = runtime.services.ipBlocker;
    for (let i = 0; i < runtime.settings.current().blocking.threshold; i++)
      await blocker.recordViolation(LOAD_BALANCER);
    const from = (path: string) =>
      app.fetch(new Request(`http://localhost${path}`, { headers: { "x-forwarded-for": LOAD_BALANCER } }));
    expect((await from("/status")).status).toBe(403);
    expect((await from("/health/live")).status).toBe(200);
    expect((await from("/health/ready")).status).toBe(200);
  });
});

describeWithServers(["postgres"], "health when PostgreSQL dies", () => {
  for (const driver of ["neon", "postgres"] as const) {
    test(`${driver}: ready turns 503 within a second and back to 200 without a restart`, async () => {
      const scratch = await createScratchDatabase();
      const target = new URL(scratch.url);
      const relay = startTcpRelay({ hostname: target.hostname, port: Number(target.port) });
      target.port = String(relay.port);
      const db =
        driver === "neon"
          ? openNeon({ url: target.toString(), readUrl: undefined, wsProxy: await neonProxyAddress() }, quiet)
          : openPostgres({ url: target.toString(), readUrl: undefined }, quiet);
      const runtime = await openRuntime(config, { logger: quiet, db, store: new MemoryStore() });
      const app = buildApp(runtime, [health]);
      try {
        await waitForStatus(app, 200, 5_000);
        relay.kill();
        const tookMs = await waitForStatus(app, 503, 1_000);
        expect(tookMs).toBeLessThan(1_000);
        const body = (await (await get(app, "/health/ready")).json()) as { checks: { database: { status: string } } };
        expect(body.checks.database.status).toBe("down");
        relay.revive();
        await waitForStatus(app, 200, 5_000);
      } finally {
        relay.close();
        await db.close();
        await scratch.drop();
      }
    });
  }
});

describeWithServers(["redis"], "health when Redis dies", () => {
  test("ready reports the store down with the in-process fallback, then recovers", async () => {
    const redisUrl = new URL(TEST_REDIS_URL ?? "");
    const relay = startTcpRelay({ hostname: redisUrl.hostname, port: Number(redisUrl.port) });
    const upstash = new UpstashStore({
      url: await upstashGatewayUrl(`redis://127.0.0.1:${relay.port}`),
      token: GATEWAY_TOKEN,
      timeoutMs: 250,
    });
    const store = new FallbackStore(upstash, createBreaker("redis", quiet, { halfOpenAfterMs: 200 }), quiet);
    const db = await openTestDatabase("pglite");
    const app = buildApp(await openRuntime(config, { logger: quiet, db, store }), [health]);
    try {
      await waitForStatus(app, 200, 5_000);
      relay.kill();
      await waitForStatus(app, 503, 1_000);
      const body = (await (await get(app, "/health/ready")).json()) as { checks: { store: Record<string, string> } };
      expect(body.checks.store).toMatchObject({ status: "down", fallback: "in-process" });
      relay.revive();
      await waitForStatus(app, 200, 5_000);
    } finally {
      relay.close();
      await db.close();
    }
  });
});

describe("health with object storage", () => {
  test(
    "ready reports the bucket up while s3rver answers, and 503 with storage down once it stops",
    async () => {
      const { startS3StandIn } = await import("../test/s3-stand-in.ts");
      const standIn = await startS3StandIn();
      const { config } = standIn;
      const runtime = await openTestRuntime({
        env: {
          S3_ENDPOINT: config.endpoint,
          S3_REGION: config.region,
          S3_BUCKET: config.bucket,
          S3_ACCESS_KEY_ID: config.accessKeyId,
          S3_SECRET_ACCESS_KEY: config.secretAccessKey,
          READINESS_CACHE_MS: "1",
        },
      });
      const app = buildApp(runtime, [health]);
      try {
        const up = await get(app, "/health/ready");
        expect(up.status).toBe(200);
        const upBody = (await up.json()) as { checks: { storage?: { status: string; driver: string } } };
        expect(upBody.checks.storage).toMatchObject({ status: "up", driver: "s3" });
        // Stopping takes longer than the 1 ms the report is cached for.
        await standIn.stop();
        const down = await get(app, "/health/ready");
        expect(down.status).toBe(503);
        const downBody = (await down.json()) as { checks: { storage?: { status: string } } };
        expect(downBody.checks.storage?.status).toBe("down");
      } finally {
        await runtime.close();
      }
    },
    BACKEND_HOOK_TIMEOUT_MS,
  );
});
