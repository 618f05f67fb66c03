import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { and, eq } from "drizzle-orm";
import { Elysia } from "elysia";
import { openTestRuntime, STORE_BACKENDS, type TestRuntime } from "../../test/backends.ts";
import { loadConfig } from "../config/config.ts";
import { ERROR_CODES } from "../core/error-codes.ts";
import type { RoutePolicy } from "../core/route-policy.ts";
import { auditEvents } from "../db/schema/index.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import { policyPlugin } from "../http/policy-plugin.ts";
import { defineRouteGroup } from "../http/route-group.ts";
import { createLogger } from "../log/logger.ts";
import { openRuntime, type Runtime } from "../runtime/runtime.ts";
import { settingsFromConfig, staticSettings } from "../settings/settings.ts";
import { MemoryStore } from "../store/memory-store.ts";
import type { SetOptions, Store } from "../store/store.ts";
import { createIpBlocker, DEFAULT_IP_BLOCKER } from "./ip-block.ts";

const LIMIT = 2;
const THRESHOLD = 3;
const POLL_MS = 50;
// Opening PGlite and migrating it takes a few seconds on a loaded machine.
const OPEN_TIMEOUT_MS = 30_000;
const limited: RoutePolicy = {
  access: "public",
  rateLimits: [{ name: "burst", limit: LIMIT, windowMs: 60_000, scope: "ip" }],
};
const unlimited: RoutePolicy = { access: "public", rateLimits: [] };

const routes = defineRouteGroup("ip-block-test", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/limited", () => ({ ok: true }), { policy: limited })
    .get("/open", () => ({ ok: true }), { policy: unlimited }),
);

// Real Redis keeps state between runs: every test uses addresses of its own.
const octet = () => Math.floor(Math.random() * 256);
const freshIpv4 = () => `198.${18 + Math.floor(Math.random() * 2)}.${octet()}.${octet()}`;
const hex = () => Math.floor(Math.random() * 0xffff).toString(16);

const from = (app: RampartApp, path: string, ip: string) =>
  app.fetch(new Request(`http://localhost${path}`, { headers: { "x-forwarded-for": ip } }));

async function refuseUntilBlocked(app: RampartApp, ip: string, refusals: number): Promise<void> {
  for (let i = 0; i < LIMIT; i++) expect((await from(app, "/limited", ip)).status).toBe(200);
  for (let i = 0; i < refusals; i++) expect((await from(app, "/limited", ip)).status).toBe(429);
}

/** Retries `check` (requests that count no violation) until it holds or `withinMs` passes. */
async function eventually(check: () => Promise<boolean>, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(5);
  }
}

/** A clock that moves only when told, starting at the real time so blocks it stamps sit beside real ones. */
function testClock() {
  let time = Date.now();
  return { now: () => time, advance: (ms: number) => void (time += ms) };
}

/** A blocker of its own on the runtime's store and settings, whose time the test moves. */
const clockedBlocker = ({ store, settings, logger }: Runtime, clock: ReturnType<typeof testClock>) =>
  createIpBlocker({ store, settings, logger, now: clock.now });

const blockedOn = (app: RampartApp, ip: string) => async () => (await from(app, "/open", ip)).status === 403;

describe.each(STORE_BACKENDS)("IP blocking on %s", (backend) => {
  let runtime: TestRuntime;
  let app: RampartApp;
  let peer: Runtime;
  let peerApp: RampartApp;

  beforeAll(async () => {
    runtime = await openTestRuntime({ store: backend, env: { TRUST_PROXY: "1", SETTINGS_POLL_MS: String(POLL_MS) } });
    await runtime.settings.update(
      {
        blocking: { threshold: THRESHOLD, windowMs: 60_000, blockMs: 60_000 },
        emergency: { enabled: false, blockThreshold: 1 },
      },
      "test",
    );
    app = buildApp(runtime, [routes]);
    // A second instance: its own memory, the same store.
    peer = await openRuntime(runtime.config, { logger: runtime.logger, db: runtime.db, store: runtime.store });
    peerApp = buildApp(peer, [routes]);
    peer.settings.start();
  }, OPEN_TIMEOUT_MS);
  afterAll(async () => {
    peer.settings.stop();
    await runtime.close();
  });

  test("after the threshold of rate-limit refusals the address gets 403 IP_BLOCKED, on every route", async () => {
    const ip = freshIpv4();
    await refuseUntilBlocked(app, ip, THRESHOLD);
    expect(await eventually(blockedOn(app, ip), 500)).toBe(true);
    const response = await from(app, "/limited", ip);
    expect(response.status).toBe(403);
    const { error } = (await response.json()) as { error: Record<string, unknown> };
    expect(error).toMatchObject({
      code: "IP_BLOCKED",
      message: ERROR_CODES.IP_BLOCKED.message,
      requestId: response.headers.get("x-request-id"),
    });
    expect(new Date(String(error.timestamp)).toISOString()).toBe(String(error.timestamp));
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect((await from(app, "/open", freshIpv4())).status).toBe(200);
    expect(runtime.logLines.some((line) => line.includes('"ip blocked"') && line.includes(ip))).toBe(true);
    const audited = () =>
      runtime.db.primary
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "ip.blocked"), eq(auditEvents.targetId, ip)));
    expect(await eventually(async () => (await audited()).length === 1, 1_000)).toBe(true);
    const [row] = await audited();
    expect(row).toMatchObject({ actorType: "system", actorId: "auto-block", targetType: "ip" });
    expect(row?.metadata).toMatchObject({ violations: THRESHOLD });
  });

  test("fewer refusals than the threshold block nothing", async () => {
    const ip = freshIpv4();
    await refuseUntilBlocked(app, ip, THRESHOLD - 1);
    await Bun.sleep(30);
    expect((await from(app, "/open", ip)).status).toBe(200);
  });

  test("the block reaches another instance sharing the store within the poll interval", async () => {
    const ip = freshIpv4();
    await refuseUntilBlocked(app, ip, THRESHOLD);
    expect(await eventually(blockedOn(app, ip), 500)).toBe(true);
    const started = Date.now();
    expect(await eventually(blockedOn(peerApp, ip), POLL_MS * 4)).toBe(true);
    expect(Date.now() - started).toBeLessThan(POLL_MS * 4);
  });

  test("a block lifts when it expires", async () => {
    const clock = testClock();
    const blocker = clockedBlocker(runtime, clock);
    const ip = freshIpv4();
    await blocker.add(ip, { ttlMs: 150 }, "test");
    clock.advance(149);
    expect(blocker.isBlocked(ip)).toBe(true);
    clock.advance(2);
    expect(blocker.isBlocked(ip)).toBe(false);
    expect((await blocker.list()).some((block) => block.target === ip)).toBe(false);
  });

  test("an automatic block lasts blocking.blockMs", async () => {
    await runtime.settings.update({ blocking: { blockMs: 90_000 } }, "test");
    try {
      const clock = testClock();
      const blocker = clockedBlocker(runtime, clock);
      const ip = freshIpv4();
      for (let i = 0; i < THRESHOLD; i++) await blocker.recordViolation(ip);
      clock.advance(90_000 - 1);
      expect(blocker.isBlocked(ip)).toBe(true);
      clock.advance(2);
      expect(blocker.isBlocked(ip)).toBe(false);
    } finally {
      await runtime.settings.update({ blocking: { blockMs: 60_000 } }, "test");
    }
  });

  test("a CIDR block covers every address inside it and none outside, IPv4 and IPv6", async () => {
    const blocker = runtime.services.ipBlocker;
    const [a, b] = [octet(), octet()];
    expect((await blocker.add(`10.${a}.${b}.77/16`, { ttlMs: 60_000 }, "test")).target).toBe(`10.${a}.0.0/16`);
    const prefix = `2001:db8:${hex()}`;
    await blocker.add(`${prefix}::/48`, { ttlMs: 60_000 }, "test");
    for (const inside of [`10.${a}.0.1`, `10.${a}.255.254`, `${prefix}:1::1`, `${prefix}:ffff:1:2:3:4`])
      expect((await from(app, "/open", inside)).status).toBe(403);
    for (const outside of [`10.${(a + 1) % 256}.0.1`, `11.${a}.0.1`, `2001:db9:${hex()}::1`])
      expect((await from(app, "/open", outside)).status).toBe(200);
  });

  test("IPv6 clients are counted and blocked by /64: addresses in one /64 share a count", async () => {
    const net = `2001:db8:${hex()}:${hex()}`;
    const hosts = [`${net}::1`, `${net}:aaaa::2`, `${net}:1:2:3:4`, `${net}::ffff`, `${net}::5`];
    for (const host of hosts.slice(0, LIMIT)) expect((await from(app, "/limited", host)).status).toBe(200);
    for (const host of hosts.slice(LIMIT, LIMIT + THRESHOLD))
      expect((await from(app, "/limited", host)).status).toBe(429);
    expect(await eventually(blockedOn(app, `${net}::abcd`), 500)).toBe(true);
    expect((await runtime.services.ipBlocker.list()).some((block) => block.target === `${net}::/64`)).toBe(true);
    expect((await from(app, "/open", `2001:db8:${hex()}:${hex()}::1`)).status).toBe(200);
  });

  test("emergency mode blocks after emergency.blockThreshold refusals", async () => {
    await runtime.settings.update({ emergency: { enabled: true, limitDivisor: 1 } }, "test");
    try {
      const ip = freshIpv4();
      await refuseUntilBlocked(app, ip, 1);
      expect(await eventually(blockedOn(app, ip), 500)).toBe(true);
    } finally {
      await runtime.settings.update({ emergency: { enabled: false, limitDivisor: 4 } }, "test");
    }
  });
});

describe("requests without a known address", () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime();
    await runtime.settings.update({ blocking: { threshold: 1 } }, "test");
  }, OPEN_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("are rate limited but never blocked: their shared key stands for every such caller", async () => {
    const app = buildApp(runtime, [routes]);
    const request = (path: string) => app.fetch(new Request(`http://localhost${path}`));
    for (let i = 0; i < LIMIT; i++) expect((await request("/limited")).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await request("/limited")).status).toBe(429);
    await Bun.sleep(30);
    expect((await request("/open")).status).toBe(200);
  });
});

describe("an automatic block the store refused to take", () => {
  test("protects its own instance at once and reaches the others at a poll after the store recovers", async () => {
    const memory = new MemoryStore();
    let writesFail = true;
    // The store answers reads and counts but refuses writes, as Redis does when it runs out of memory.
    const refusingWrites: Store = Object.assign(Object.create(memory) as Store, {
      set: (key: string, value: string, options?: SetOptions) =>
        writesFail ? Promise.reject(new Error("OOM command not allowed")) : memory.set(key, value, options),
    });
    const base = settingsFromConfig(loadConfig({ NODE_ENV: "test" }));
    const settings = staticSettings({ ...base, blocking: { ...base.blocking, threshold: 1 } });
    const logger = createLogger({ sink: () => {} });
    const blocker = createIpBlocker({ store: refusingWrites, settings, logger });
    const peer = createIpBlocker({ store: memory, settings, logger });
    const ip = "203.0.113.77";

    expect(
      await blocker.recordViolation(ip).then(
        () => "shared",
        () => "refused",
      ),
    ).toBe("refused");
    expect(blocker.isBlocked(ip)).toBe(true);
    await peer.refresh();
    expect(peer.isBlocked(ip)).toBe(false);

    await blocker.refresh();
    expect(blocker.isBlocked(ip)).toBe(true);
    writesFail = false;
    await blocker.refresh();
    await peer.refresh();
    expect(peer.isBlocked(ip)).toBe(true);
    expect((await peer.list()).map((block) => block.target)).toEqual([ip]);
  });
});

describe("an operator lifting an automatic block while a poll retries writing it", () => {
  test("the block stays lifted everywhere", async () => {
    const memory = new MemoryStore();
    let writes: "refused" | "slow" = "refused";
    const flaky: Store = Object.assign(Object.create(memory) as Store, {
      set: async (key: string, value: string, options?: SetOptions) => {
        if (writes === "refused") throw new Error("OOM command not allowed");
        await Bun.sleep(20);
        return memory.set(key, value, options);
      },
    });
    const base = settingsFromConfig(loadConfig({ NODE_ENV: "test" }));
    const settings = staticSettings({ ...base, blocking: { ...base.blocking, threshold: 1 } });
    const logger = createLogger({ sink: () => {} });
    const blocker = createIpBlocker({ store: flaky, settings, logger });
    const peer = createIpBlocker({ store: memory, settings, logger });
    const ip = "203.0.113.88";

    await blocker.recordViolation(ip).catch(() => undefined);
    expect(blocker.isBlocked(ip)).toBe(true);
    writes = "slow";
    const retrying = blocker.refresh();
    await Bun.sleep(5);
    expect(await blocker.remove(ip, "operator")).toBe(ip);
    await retrying;
    await blocker.refresh();
    await peer.refresh();
    expect(blocker.isBlocked(ip)).toBe(false);
    expect(peer.isBlocked(ip)).toBe(false);
  });
});

describe("a store that lost the blocklist and took new blocks before an instance that knew it polled", () => {
  test("keeps the blocks from before the loss and those made since, on every instance", async () => {
    const store = new MemoryStore();
    const settings = staticSettings(settingsFromConfig(loadConfig({ NODE_ENV: "test" })));
    const logger = createLogger({ sink: () => {} });
    const survivor = createIpBlocker({ store, settings, logger });
    await survivor.add("198.51.100.7", {}, "admin");
    await survivor.add("198.51.100.0/28", { ttlMs: 60_000 }, "admin");
    // Redis restarted empty; an instance started afterwards blocks one address.
    const { key } = DEFAULT_IP_BLOCKER;
    await store.del(key, `${key}:head`, `${key}:v1`, `${key}:v2`);
    await Bun.sleep(2);
    const newcomer = createIpBlocker({ store, settings, logger });
    await newcomer.add("203.0.113.9", { ttlMs: 60_000 }, "admin");

    await survivor.refresh();
    await newcomer.refresh();
    for (const blocker of [survivor, newcomer, createIpBlocker({ store, settings, logger })]) {
      await blocker.refresh();
      expect((await blocker.list()).map((block) => block.target).sort()).toEqual([
        "198.51.100.0/28",
        "198.51.100.7",
        "203.0.113.9",
      ]);
      expect(blocker.isBlocked("198.51.100.7")).toBe(true);
      expect(blocker.isBlocked("203.0.113.9")).toBe(true);
    }
  });
  test(
    "a block lifted before the loss stays lifted when a lagging instance " + "puts back an older list first",
    async () => {
      const store = new MemoryStore();
      const settings = staticSettings(settingsFromConfig(loadConfig({ NODE_ENV: "test" })));
      const logger = createLogger({ sink: () => {} });
      const upToDate = createIpBlocker({ store, settings, logger });
      const lagging = createIpBlocker({ store, settings, logger });
      await upToDate.add("198.51.100.20", {}, "admin");
      await lagging.refresh();
      await Bun.sleep(2);
      await upToDate.remove("198.51.100.20", "admin");
      const { key } = DEFAULT_IP_BLOCKER;
      await store.del(key, `${key}:head`, `${key}:v1`, `${key}:v2`);

      await lagging.refresh();
      await upToDate.refresh();
      for (const blocker of [upToDate, lagging, createIpBlocker({ store, settings, logger })]) {
        await blocker.refresh();
        expect(blocker.isBlocked("198.51.100.20")).toBe(false);
        expect(await blocker.list()).toEqual([]);
      }
    },
  );
});
