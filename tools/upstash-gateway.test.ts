/** @upstash/redis and @upstash/ratelimit through the local Upstash gateway to a real Redis (TEST_REDIS_URL). */
import { expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { startUpstashGateway, type UpstashGateway } from "./upstash-gateway.ts";

const TEST_REDIS_URL = process.env.TEST_REDIS_URL;
const TOKEN = "upstash-gateway-test-token";
const RUN_PREFIX = `gateway-test:${crypto.randomUUID()}`;
let keyCounter = 0;
const uniqueKey = (name: string) => `${RUN_PREFIX}:${name}:${keyCounter++}`;

describeWithServers(["redis"], "Upstash gateway", ({ beforeAll, afterAll }) => {
  let gateway: UpstashGateway;
  let redis: Redis;

  beforeAll(async () => {
    gateway = await startUpstashGateway({ redisUrl: TEST_REDIS_URL ?? "", token: TOKEN, port: 0 });
    redis = new Redis({ url: gateway.url, token: TOKEN, enableTelemetry: false, retry: false });
  }, BACKEND_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    const keys = await redis.keys(`${RUN_PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await gateway.stop();
  });

  const rawCommand = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });

  test("set with ex, then get", async () => {
    const key = uniqueKey("set");
    expect(await redis.set(key, "héllo ✓", { ex: 60 })).toBe("OK");
    expect(await redis.get<string>(key)).toBe("héllo ✓");
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await redis.get(uniqueKey("missing"))).toBeNull();
  });

  test("incr, expire/ttl and del", async () => {
    const key = uniqueKey("counter");
    expect(await redis.incr(key)).toBe(1);
    expect(await redis.incr(key)).toBe(2);
    expect(await redis.ttl(key)).toBe(-1);
    expect(await redis.expire(key, 100)).toBe(1);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(90);
    expect(ttl).toBeLessThanOrEqual(100);
    expect(await redis.del(key)).toBe(1);
    expect(await redis.get(key)).toBeNull();
    expect(await redis.ttl(key)).toBe(-2);
  });

  test("a JSON value round-trips", async () => {
    const key = uniqueKey("json");
    const value = { name: "rampart", tags: ["a", "β"], nested: { count: 3, on: true, none: null } };
    await redis.set(key, value);
    expect(await redis.get<typeof value>(key)).toEqual(value);
  });

  test("a pipeline returns each command's result in order", async () => {
    const [text, counter] = [uniqueKey("pipe-text"), uniqueKey("pipe-counter")];
    const results = await redis
      .pipeline()
      .set(text, "one")
      .incr(counter)
      .incr(counter)
      .get(text)
      .mget(text, counter, uniqueKey("none"))
      .exec();
    expect(results).toEqual(["OK", 1, 2, "one", ["one", 2, null]]);
  });

  test("a pipeline reports a failing command without failing the others", async () => {
    const text = uniqueKey("pipe-error");
    const results = await redis.pipeline().set(text, "not a number").incr(text).get(text).exec({ keepErrors: true });
    expect(results.map((entry) => entry.error)).toEqual([
      undefined,
      "ERR value is not an integer or out of range",
      undefined,
    ]);
    expect(results[2]?.result).toBe("not a number");
  });

  test("multi-exec runs as one transaction", async () => {
    const [text, counter] = [uniqueKey("tx-text"), uniqueKey("tx-counter")];
    const results = await redis.multi().set(text, "in tx").incr(counter).incrby(counter, 5).get(text).exec();
    expect(results).toEqual(["OK", 1, 6, "in tx"]);
  });

  test("a transaction with a command Redis refuses to queue is not applied at all", async () => {
    const key = uniqueKey("tx-abort");
    const response = await rawCommand("/multi-exec", [
      ["set", key, "should not stick"],
      ["no-such-command", key],
    ]);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toContain("EXECABORT");
    expect(await redis.exists(key)).toBe(0);
  });

  test("a wrong token is refused", async () => {
    const intruder = new Redis({ url: gateway.url, token: "not-the-token", enableTelemetry: false, retry: false });
    await expect(intruder.get(uniqueKey("secret"))).rejects.toThrow("Unauthorized");
    const response = await fetch(gateway.url, { method: "POST", body: JSON.stringify(["ping"]) });
    expect(response.status).toBe(401);
  });

  test("a command error is a 400 with the Redis message", async () => {
    const key = uniqueKey("wrongtype");
    await redis.lpush(key, "x");
    await expect(redis.get(key)).rejects.toThrow("WRONGTYPE");
    const response = await rawCommand("/", ["incr", key]);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: "WRONGTYPE Operation against a key holding the wrong kind of value",
    });
  });

  test(
    "Upstash-Encoding: base64 encodes every string but a " + "top-level OK; numbers and nil stay as they are",
    async () => {
      const key = uniqueKey("wire");
      const base64 = { "upstash-encoding": "base64" };
      expect(await (await rawCommand("/", ["set", key, "v1"], base64)).json()).toEqual({ result: "OK" });
      expect(await (await rawCommand("/", ["get", key], base64)).json()).toEqual({ result: btoa("v1") });
      expect(await (await rawCommand("/", ["get", key])).json()).toEqual({ result: "v1" });
      expect(await (await rawCommand("/", ["type", key], base64)).json()).toEqual({ result: btoa("string") });
      const script = "return {redis.call('SET', KEYS[1], 'v2'), 7, false, {'nested', 8}}";
      expect(await (await rawCommand("/", ["eval", script, 1, key], base64)).json()).toEqual({
        result: [btoa("OK"), 7, null, [btoa("nested"), 8]],
      });
      expect(
        await (
          await rawCommand(
            "/pipeline",
            [
              ["get", key],
              ["incr", key],
            ],
            base64,
          )
        ).json(),
      ).toEqual([{ result: btoa("v2") }, { error: "ERR value is not an integer or out of range" }]);
    },
  );

  test("@upstash/ratelimit's `#!lua flags=allow-key-locking` scripts run: two pass, the third is blocked", async () => {
    const limiter = new Ratelimit({
      redis,
      limiter: Ratelimit.slidingWindow(2, "10 s"),
      prefix: uniqueKey("ratelimit"),
      analytics: false,
    });
    const results = [await limiter.limit("client"), await limiter.limit("client"), await limiter.limit("client")];
    expect(results.map((result) => result.success)).toEqual([true, true, false]);
    expect(results[2]?.remaining).toBe(0);
  });

  test(
    "EVALSHA works with the hash of the original script after " + "SCRIPT LOAD; an unknown hash is NOSCRIPT",
    async () => {
      const script = "#!lua flags=allow-key-locking\nreturn {KEYS[1], ARGV[1]}";
      const originalSha = createHash("sha1").update(script).digest("hex");
      expect(await redis.scriptLoad(script)).toBe(originalSha);
      const key = uniqueKey("evalsha");
      expect(await redis.evalsha<string[], string[]>(originalSha, [key], ["arg"])).toEqual([key, "arg"]);
      expect(await redis.scriptExists(originalSha)).toEqual([1]);
      await expect(
        redis.evalsha(createHash("sha1").update(`${script}\n-- never loaded`).digest("hex"), [], []),
      ).rejects.toThrow("NOSCRIPT");
    },
  );

  test("EVAL_RO and EVALSHA_RO keep Redis's own flags and drop Upstash's", async () => {
    const key = uniqueKey("ro");
    await redis.set(key, "read me");
    const script = "#!lua flags=no-writes,allow-key-locking\nreturn redis.call('GET', KEYS[1])";
    expect(await redis.evalRo<string[], string>(script, [key], [])).toBe("read me");
    // EVAL filled the hash map, so the client's hash of the original script now resolves.
    const originalSha = createHash("sha1").update(script).digest("hex");
    expect(await redis.evalshaRo<string[], string>(originalSha, [key], [])).toBe("read me");
    // no-writes survived the rewrite: Redis refuses a write from this script.
    const writer = "#!lua flags=no-writes,allow-key-locking\nreturn redis.call('SET', KEYS[1], 'x')";
    await expect(redis.eval(writer, [key], [])).rejects.toThrow("Write commands are not allowed");
  });
});
