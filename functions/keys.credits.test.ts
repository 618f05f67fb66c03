import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { Elysia } from "elysia";
import { createApiKey, type NewApiKey } from "../lib/auth/api-keys.ts";
import { nextPeriodStart, periodOf } from "../lib/auth/usage-credits.ts";
import { perKey, READ } from "../lib/core/policy-presets.ts";
import { apiKeys, organizations } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  openTestDatabase,
  openTestRuntime,
  STORE_BACKENDS,
  type TestRuntime,
} from "../test/backends.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { createTestClock, type TestClock } from "../test/test-clock.ts";

// Limits far above the test's traffic: what refuses here must be the credits.
const credited = defineRouteGroup("credited", () =>
  new Elysia({ name: "credited" })
    .use(policyPlugin)
    .get("/credited", ({ key }) => ({ keyId: key.keyId }), { key: { ...READ, rateLimits: [perKey(100_000, "1m")] } })
    .get("/credited/expensive", ({ key }) => ({ keyId: key.keyId }), {
      key: { ...READ, cost: 5, rateLimits: [perKey(100_000, "1m")] },
    })
    .get("/credited/free", ({ key }) => ({ keyId: key.keyId }), {
      key: { ...READ, cost: 0, rateLimits: [perKey(100_000, "1m")] },
    }),
);

const DAY_MS = 86_400_000;

async function newOrg(runtime: TestRuntime): Promise<string> {
  const [org] = await runtime.db.primary.insert(organizations).values({ name: "Credits" }).returning();
  if (org === undefined) throw new Error("no org row");
  return org.id;
}

const issue = (runtime: TestRuntime, orgId: string, input: Partial<NewApiKey>) =>
  createApiKey(runtime, { type: "system" }, orgId, { name: "metered", scopes: ["orgs:read"], ...input });

const call = (app: RampartApp, key: string, path = "/credited") =>
  app.fetch(new Request(`http://localhost${path}`, { headers: { authorization: `Bearer ${key}` } }));

/** `count` requests at once, alternating between the apps; the statuses, counted. */
async function burst(apps: RampartApp[], key: string, count: number, path?: string) {
  const responses = await Promise.all(
    Array.from({ length: count }, (_, i) => call(apps[i % apps.length] as RampartApp, key, path)),
  );
  const statuses: Record<number, number> = {};
  for (const response of responses) statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  return { statuses, responses };
}

/** The credits the database holds once both instances have written behind. */
async function persisted(runtimes: TestRuntime[], keyId: string): Promise<number | null | undefined> {
  for (const runtime of runtimes) await runtime.services.identity.apiKeys.settled();
  const [row] =
    (await runtimes[0]?.db.primary
      .select({ remaining: apiKeys.creditsRemaining })
      .from(apiKeys)
      .where(eq(apiKeys.id, keyId))) ?? [];
  return row?.remaining;
}

describe.each(STORE_BACKENDS)("usage credits on one instance with the %s store", (store) => {
  const clock: TestClock = createTestClock();
  let runtime: TestRuntime;
  let app: RampartApp;
  let orgId: string;
  beforeAll(async () => {
    runtime = await openTestRuntime({ store, now: clock.now });
    app = buildApp(runtime, [credited]);
    orgId = await newOrg(runtime);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  test("each answer carries the credits left; the last one spent, 429 USAGE_EXCEEDED with 0 left", async () => {
    const issued = await issue(runtime, orgId, { credits: { remaining: 2 } });
    const first = await call(app, issued.key);
    expect(first.status).toBe(200);
    expect(first.headers.get("usage-remaining")).toBe("1");
    expect((await call(app, issued.key)).headers.get("usage-remaining")).toBe("0");
    const refused = await call(app, issued.key);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("usage-remaining")).toBe("0");
    // No refill: waiting does not help, so no Retry-After.
    expect(refused.headers.get("retry-after")).toBeNull();
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("USAGE_EXCEEDED");
    expect(await persisted([runtime], issued.id)).toBe(0);
  });

  test("a route's declared cost is spent per request; a cost larger than what is left spends nothing", async () => {
    const issued = await issue(runtime, orgId, { credits: { remaining: 12 } });
    expect((await call(app, issued.key, "/credited/expensive")).headers.get("usage-remaining")).toBe("7");
    expect((await call(app, issued.key, "/credited/expensive")).headers.get("usage-remaining")).toBe("2");
    const refused = await call(app, issued.key, "/credited/expensive");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("usage-remaining")).toBe("2");
    expect((await call(app, issued.key, "/credited/free")).headers.get("usage-remaining")).toBe("2");
    expect((await call(app, issued.key)).headers.get("usage-remaining")).toBe("1");
  });

  test("a daily refill sets the credits to its amount once the day changes, exactly once", async () => {
    const start = (periodOf("daily", Date.now()) + 1) * DAY_MS + 3_600_000;
    clock.advance(start - clock.now());
    try {
      const issued = await issue(runtime, orgId, {
        credits: { remaining: 1, refill: { interval: "daily", amount: 3 } },
      });
      expect((await call(app, issued.key)).status).toBe(200);
      const refused = await call(app, issued.key);
      expect(refused.status).toBe(429);
      // Retry-After names the refill: the next midnight UTC, 23 hours on.
      expect(refused.headers.get("retry-after")).toBe(String(23 * 3600));
      clock.advance(nextPeriodStart("daily", periodOf("daily", start)) - clock.now());
      const { statuses } = await burst([app], issued.key, 10);
      expect(statuses).toEqual({ 200: 3, 429: 7 });
      clock.advance(DAY_MS - 1);
      expect((await call(app, issued.key)).status).toBe(429);
      clock.advance(1);
      expect((await call(app, issued.key)).headers.get("usage-remaining")).toBe("2");
    } finally {
      clock.reset();
    }
  });

  test("a monthly refill waits for the first of the next month (UTC)", async () => {
    const at = Date.UTC(2031, 0, 31, 23, 0);
    clock.advance(at - clock.now());
    try {
      const issued = await issue(runtime, orgId, {
        credits: { remaining: 0, refill: { interval: "monthly", amount: 2 } },
      });
      const refused = await call(app, issued.key);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("3600");
      clock.advance(3_600_000);
      expect((await call(app, issued.key)).headers.get("usage-remaining")).toBe("1");
    } finally {
      clock.reset();
    }
  });

  test("a key without credits is not metered", async () => {
    const issued = await issue(runtime, orgId, {});
    const response = await call(app, issued.key);
    expect(response.status).toBe(200);
    expect(response.headers.get("usage-remaining")).toBeNull();
  });
});

describeWithServers(["postgres", "redis"], "usage credits over two instances sharing Redis and PostgreSQL", () => {
  const clock = createTestClock();
  let first: TestRuntime;
  let second: TestRuntime;
  let apps: RampartApp[];
  let orgId: string;
  beforeAll(async () => {
    const db = await openTestDatabase("postgres");
    first = await openTestRuntime({ db, store: "upstash", now: clock.now });
    second = await openTestRuntime({ db, store: "upstash", now: clock.now });
    apps = [buildApp(first, [credited]), buildApp(second, [credited])];
    orgId = await newOrg(first);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => first.close(), BACKEND_HOOK_TIMEOUT_MS);

  test("200 concurrent requests on a key with 50 credits admit exactly 50; the database ends at 0", async () => {
    const issued = await issue(first, orgId, { credits: { remaining: 50 } });
    const { statuses, responses } = await burst(apps, issued.key, 200);
    expect(statuses).toEqual({ 200: 50, 429: 150 });
    const left = responses.filter((r) => r.status === 200).map((r) => Number(r.headers.get("usage-remaining")));
    // Each admitted request saw a different count: no credit was spent twice.
    expect(new Set(left).size).toBe(50);
    expect(await persisted([first, second], issued.id)).toBe(0);
  }, 60_000);

  test("after a daily refill, 200 concurrent requests admit exactly the refill amount", async () => {
    const issued = await issue(first, orgId, { credits: { remaining: 0, refill: { interval: "daily", amount: 40 } } });
    expect((await burst(apps, issued.key, 20)).statuses).toEqual({ 429: 20 });
    try {
      clock.advance(nextPeriodStart("daily", periodOf("daily", clock.now())) - clock.now());
      expect((await burst(apps, issued.key, 200)).statuses).toEqual({ 200: 40, 429: 160 });
      clock.advance(DAY_MS);
      expect((await burst(apps, issued.key, 200)).statuses).toEqual({ 200: 40, 429: 160 });
      expect(await persisted([first, second], issued.id)).toBe(0);
    } finally {
      clock.reset();
    }
  }, 60_000);

  test("a count Redis lost is read back from the database, which the spends were written behind to", async () => {
    const issued = await issue(first, orgId, { credits: { remaining: 30 } });
    expect((await burst(apps, issued.key, 20)).statuses).toEqual({ 200: 20 });
    expect(await persisted([first, second], issued.id)).toBe(10);
    await first.store.del(`rampart:credits:key:${issued.id}`);
    expect((await burst(apps, issued.key, 40)).statuses).toEqual({ 200: 10, 429: 30 });
  }, 60_000);
});
