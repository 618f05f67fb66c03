/** The store interface behaves the same in-process and on real Redis through @upstash/redis. */
import { describe, expect, test } from "bun:test";
import { Ratelimit } from "@upstash/ratelimit";
import { createLogger, createMemorySink } from "../lib/log/logger.ts";
import { createBreaker } from "../lib/resilience/breaker.ts";
import { FallbackStore } from "../lib/store/fallback-store.ts";
import type { Store } from "../lib/store/store.ts";
import { UpstashStore } from "../lib/store/upstash-store.ts";
import { GATEWAY_TOKEN, openTestStore, STORE_BACKENDS, TEST_REDIS_URL, upstashGatewayUrl } from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { startTcpRelay } from "./tcp-relay.ts";

const unique = () => `t:${crypto.randomUUID()}`;

describe.each(STORE_BACKENDS)("store on %s", (backend) => {
  let store: Store;
  const open = async () => (store ??= await openTestStore(backend));

  test("get returns what set stored, and null for a missing key", async () => {
    await open();
    const key = unique();
    expect(await store.get(key)).toBeNull();
    expect(await store.set(key, "v1")).toBe(true);
    expect(await store.get(key)).toBe("v1");
  });

  test("values are returned as stored strings, JSON included", async () => {
    await open();
    const key = unique();
    const json = JSON.stringify({ a: 1, b: ["x"] });
    await store.set(key, json);
    expect(await store.get(key)).toBe(json);
    await store.set(key, "42");
    expect(await store.get(key)).toBe("42");
  });

  test("mget returns each key's value in order, null for a missing one, numbers and JSON as stored", async () => {
    await open();
    const [a, missing, counter] = [unique(), unique(), unique()];
    const json = JSON.stringify({ a: 1 });
    await store.set(a, json);
    await store.incr(counter);
    expect(await store.mget([a, missing, counter])).toEqual([json, null, "1"]);
  });

  test("set with onlyIfAbsent sets once", async () => {
    await open();
    const key = unique();
    expect(await store.set(key, "first", { onlyIfAbsent: true, ttlMs: 10_000 })).toBe(true);
    expect(await store.set(key, "second", { onlyIfAbsent: true, ttlMs: 10_000 })).toBe(false);
    expect(await store.get(key)).toBe("first");
  });

  test("a TTL expires the key", async () => {
    await open();
    const key = unique();
    await store.set(key, "v", { ttlMs: 60 });
    const ttl = await store.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    await Bun.sleep(120);
    expect(await store.get(key)).toBeNull();
    expect(await store.ttl(key)).toBe(-2);
  });

  test("incr counts atomically and gives a new counter its expiry", async () => {
    await open();
    const key = unique();
    const counts = await Promise.all(Array.from({ length: 20 }, () => store.incr(key, 10_000)));
    expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await store.ttl(key)).toBeGreaterThan(9_000);
  });

  test("expire and del", async () => {
    await open();
    const key = unique();
    await store.set(key, "v");
    expect(await store.ttl(key)).toBe(-1);
    expect(await store.expire(key, 5_000)).toBe(true);
    expect(await store.expire(unique(), 5_000)).toBe(false);
    expect(await store.del(key, unique())).toBe(1);
    expect(await store.get(key)).toBeNull();
  });
});

describeWithServers(["redis"], "Redis through the Upstash client", ({ afterAll }) => {
  const relays: { close(): void }[] = [];
  afterAll(() => {
    for (const relay of relays) relay.close();
  });

  test("@upstash/ratelimit admits the limit, then blocks", async () => {
    const { redis } = new UpstashStore({ url: await upstashGatewayUrl(), token: GATEWAY_TOKEN, timeoutMs: 1_000 });
    const limiter = new Ratelimit({ redis, limiter: Ratelimit.slidingWindow(2, "10 s"), prefix: unique() });
    const results = [await limiter.limit("client"), await limiter.limit("client"), await limiter.limit("client")];
    expect(results.map((r) => r.success)).toEqual([true, true, false]);
    expect(results[2]?.remaining).toBe(0);
  });

  test("when Redis dies the store falls back within its deadline, and recovers without a restart", async () => {
    const redisUrl = new URL(TEST_REDIS_URL ?? "");
    const relay = startTcpRelay({ hostname: redisUrl.hostname, port: Number(redisUrl.port) });
    relays.push(relay);
    const capture = createMemorySink();
    const logger = createLogger({ sink: capture.sink });
    const timeoutMs = 250;
    const upstash = new UpstashStore({
      url: await upstashGatewayUrl(`redis://127.0.0.1:${relay.port}`),
      token: GATEWAY_TOKEN,
      timeoutMs,
    });
    const store = new FallbackStore(
      upstash,
      createBreaker("redis", logger, { consecutiveFailures: 2, halfOpenAfterMs: 200 }),
      logger,
    );
    const key = unique();
    await store.set(key, "from-redis");
    expect(store.health().degraded).toBe(false);

    relay.kill();
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await store.set(`${key}:${i}`, "kept in process", { ttlMs: 60_000 });
      expect(performance.now() - started).toBeLessThan(timeoutMs + 150);
    }
    expect(await store.get(`${key}:0`)).toBe("kept in process");
    expect(store.health()).toEqual({ degraded: true, breaker: "open" });

    relay.revive();
    await Bun.sleep(250);
    await store.get(key);
    expect(await store.get(key)).toBe("from-redis");
    expect(store.health()).toEqual({ degraded: false, breaker: "closed" });
    expect(capture.lines.filter((l) => l.includes("serving from the in-process fallback"))).toHaveLength(1);
    expect(capture.lines.filter((l) => l.includes("store recovered"))).toHaveLength(1);
  });
});
