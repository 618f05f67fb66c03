import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { withCountedQueries } from "../../test/counting-db.ts";
import { ADMIN_TOKEN, type IdentityTestApp, type IssuedKey, openIdentityTestApp } from "../../test/identity-client.ts";
import { buildApp, type RampartApp } from "../http/app.ts";
import { policyPlugin } from "../http/policy-plugin.ts";
import { defineRouteGroup } from "../http/route-group.ts";
import { DEFAULT_AUTH_FAILURE_LIMIT } from "./auth-failure-limit.ts";

const BUDGET = DEFAULT_AUTH_FAILURE_LIMIT.limit;

const routes = defineRouteGroup("probes", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/probe", () => ({ ok: true }), { policy: { access: "user-or-key", rateLimits: [] } })
    .get("/user-probe", () => ({ ok: true }), { policy: { access: "user", rateLimits: [] } })
    .get("/admin/probe", () => ({ ok: true }), { policy: { access: "admin", rateLimits: [] } }),
);

let addresses = 0;
const freshIp = () => `172.16.${(++addresses >> 8) & 255}.${addresses & 255}`;

describe("failed-authentication budget per client address", () => {
  let harness: IdentityTestApp;
  let app: RampartApp;
  let key: IssuedKey;
  const call = (path: string, ip: string, token?: string) =>
    app.fetch(
      new Request(`http://localhost${path}`, {
        headers: { "x-forwarded-for": ip, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
      }),
    );
  const forgedKey = () => harness.runtime.services.identity.apiKeys.format.generate().key;

  beforeAll(async () => {
    harness = await openIdentityTestApp();
    app = buildApp(harness.runtime, [routes]);
    const owner = await harness.client.createUser();
    const orgId = await harness.client.createOrg(owner);
    key = await harness.client.issueKey(owner, orgId, { scopes: ["orgs:read"] });
  }, 30_000);
  afterAll(() => harness.runtime.close());

  /**
   * An app over a copy of the runtime whose queries are counted (its identity services start cold), and a sender from
   * one fresh address.
   */
  function countedProbe() {
    const counted = withCountedQueries(harness.runtime);
    const app = buildApp(counted.runtime, [routes]);
    const ip = freshIp();
    const send = (token: string) =>
      app.fetch(
        new Request("http://localhost/probe", { headers: { "x-forwarded-for": ip, authorization: `Bearer ${token}` } }),
      );
    return { counted, app, send };
  }

  test(
    "forged keys with a valid checksum get 401 up to the budget, then 429 " +
      "with Retry-After, and stop reaching the database",
    async () => {
      const { counted, send } = countedProbe();
      const statuses: number[] = [];
      for (let i = 0; i < BUDGET; i++) statuses.push((await send(forgedKey())).status);
      expect(statuses).toEqual(Array<number>(BUDGET).fill(401));
      const refused = await send(forgedKey());
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("RATE_LIMITED");

      counted.reset();
      for (let i = 0; i < 10; i++) expect((await send(forgedKey())).status).toBe(429);
      expect(counted.queries()).toBe(0);
      // The address is refused whatever it presents, until the window ends; other addresses are not.
      expect((await send(key.key)).status).toBe(429);
      expect((await call("/probe", freshIp(), key.key)).status).toBe(200);
    },
  );

  test(
    "on a route for signed-in users, a working key is 403 and spends " +
      "nothing; forged keys are 401 and spend the budget as anywhere",
    async () => {
      const ip = freshIp();
      for (let i = 0; i < BUDGET + 5; i++) {
        const refused = await call("/user-probe", ip, key.key);
        expect({
          status: refused.status,
          code: ((await refused.json()) as { error: { code: string } }).error.code,
        }).toEqual({ status: 403, code: "FORBIDDEN" });
      }
      const statuses: number[] = [];
      for (let i = 0; i < BUDGET; i++) statuses.push((await call("/user-probe", ip, forgedKey())).status);
      expect(statuses).toEqual(Array<number>(BUDGET).fill(401));
      expect((await call("/user-probe", ip, forgedKey())).status).toBe(429);
    },
  );

  test(
    "a burst of forged keys sent at once is looked up at most " +
      "maxConcurrentLookups at a time, and stops reaching the database once the budget is spent",
    async () => {
      const { counted, app: countedApp, send } = countedProbe();
      // A fresh app's first request loads what every later one shares: not part of the count.
      await countedApp.fetch(new Request("http://localhost/probe", { headers: { "x-forwarded-for": freshIp() } }));
      counted.reset();
      const burst = 200;
      const statuses = (await Promise.all(Array.from({ length: burst }, () => send(forgedKey())))).map((r) => r.status);
      expect(statuses.filter((s) => s === 401)).toHaveLength(BUDGET);
      expect(statuses.filter((s) => s === 429)).toHaveLength(burst - BUDGET);
      // Past the budget, only lookups already running, or handed a turn just before the last failure was
      // counted, still reach the database: each one query, plus perhaps the audit row of the automatic block.
      const { maxConcurrentLookups } = DEFAULT_AUTH_FAILURE_LIMIT;
      expect(counted.queries()).toBeGreaterThanOrEqual(BUDGET);
      expect(counted.queries()).toBeLessThanOrEqual(BUDGET + 2 * maxConcurrentLookups + 1);
    },
  );

  test(
    "many real keys sent at once from one address (a NAT) to a cold " + "instance all get through, and spend nothing",
    async () => {
      const owner = await harness.client.createUser();
      const orgId = await harness.client.createOrg(owner);
      const count = DEFAULT_AUTH_FAILURE_LIMIT.maxConcurrentLookups * 3;
      const keys: IssuedKey[] = [];
      for (let i = 0; i < count; i++) keys.push(await harness.client.issueKey(owner, orgId, { scopes: ["orgs:read"] }));
      // A copy of the runtime has identity services of its own: no key is loaded in it yet.
      const { counted: cold, send } = countedProbe();
      const statuses = (await Promise.all(keys.map((k) => send(k.key)))).map((r) => r.status);
      expect(statuses).toEqual(Array<number>(count).fill(200));
      // The same key sent many times at once, not loaded yet, shares its lookup.
      const another = await harness.client.issueKey(owner, orgId, { scopes: ["orgs:read"] });
      cold.reset();
      const again = await Promise.all(Array.from({ length: 50 }, () => send(another.key)));
      expect(again.map((r) => r.status)).toEqual(Array<number>(50).fill(200));
      expect(cold.queries()).toBeLessThan(10);
      expect((await send(forgedKey())).status).toBe(401);
    },
  );

  test("successful authentications spend nothing", async () => {
    const ip = freshIp();
    for (let i = 0; i < BUDGET + 10; i++) expect((await call("/probe", ip, key.key)).status).toBe(200);
    expect((await call("/probe", ip, forgedKey())).status).toBe(401);
  });

  test("wrong admin tokens spend the same budget, and the right one still works from that address", async () => {
    const ip = freshIp();
    for (let i = 0; i < BUDGET; i++)
      expect((await call("/admin/probe", ip, `wrong-${i}-${ADMIN_TOKEN}`)).status).toBe(401);
    expect((await call("/admin/probe", ip, "wrong")).status).toBe(429);
    expect((await call("/admin/probe", ip, ADMIN_TOKEN)).status).toBe(200);
  });

  test(
    "refused access tokens are not counted: an expired token before a " + "refresh is routine, and costs no query",
    async () => {
      const ip = freshIp();
      for (let i = 0; i < BUDGET + 10; i++)
        expect((await call("/probe", ip, `eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.${"A".repeat(86)}`)).status).toBe(401);
      expect((await call("/probe", ip, key.key)).status).toBe(200);
    },
  );

  test("callers without a known address are never counted: they would all share one budget", async () => {
    const unknown = (token: string) =>
      app.fetch(new Request("http://localhost/probe", { headers: { authorization: `Bearer ${token}` } }));
    for (let i = 0; i < BUDGET + 10; i++) expect((await unknown(forgedKey())).status).toBe(401);
    expect((await unknown(key.key)).status).toBe(200);
  });

  test("refusals past the budget count toward an automatic IP block", async () => {
    const ip = freshIp();
    for (let i = 0; i <= BUDGET; i++) await call("/probe", ip, forgedKey());
    const threshold = harness.runtime.settings.current().blocking.threshold;
    const statuses: number[] = [];
    for (let i = 0; i < threshold + 5; i++) {
      statuses.push((await call("/probe", ip, forgedKey())).status);
      await Bun.sleep(1);
    }
    expect(statuses).toContain(403);
    expect(statuses.slice(statuses.indexOf(403)).every((status) => status === 403)).toBe(true);
  });
});
