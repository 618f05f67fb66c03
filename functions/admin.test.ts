import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { Elysia } from "elysia";
import type { RoutePolicy } from "../lib/core/route-policy.ts";
import { auditEvents } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { openRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import type { Settings } from "../lib/settings/settings.ts";
import { openTestRuntime, STORE_BACKENDS, type TestRuntime } from "../test/backends.ts";
import admin from "./admin.ts";

const ADMIN_TOKEN = "admin-token-0123456789abcdef-0123456789";
const POLL_MS = 50;
// Opening PGlite and migrating it takes a few seconds on a loaded machine.
const OPEN_TIMEOUT_MS = 30_000;
const ENV = { ADMIN_TOKEN, TRUST_PROXY: "1", SETTINGS_POLL_MS: String(POLL_MS) };

const probes = defineRouteGroup("probes", () => {
  const open: RoutePolicy = { access: "public", rateLimits: [] };
  const eightPerMinute: RoutePolicy = {
    access: "public",
    rateLimits: [{ name: "burst", limit: 8, windowMs: 60_000, scope: "ip" }],
  };
  return new Elysia()
    .use(policyPlugin)
    .get("/probe", () => ({ ok: true }), { policy: open })
    .get("/eight", () => ({ ok: true }), { policy: eightPerMinute });
});

// Real Redis keeps state between runs: every test uses addresses of its own.
const octet = () => Math.floor(Math.random() * 256);
const freshIpv4 = () => `198.${18 + Math.floor(Math.random() * 2)}.${octet()}.${octet()}`;
const hex = () => Math.floor(Math.random() * 0xffff).toString(16);
// The admin's own address, never blocked by these tests; a new one each run, as Redis keeps rate-limit counts.
const ADMIN_IP = `100.64.${octet()}.${octet()}`;

interface ErrorBody {
  error: {
    code: string;
    message: string;
    details?: { fields?: { path: string; message: string }[] };
    requestId: string;
  };
}

function client(app: RampartApp) {
  const call = (method: string, path: string, options: { body?: unknown; token?: string | null; ip?: string } = {}) => {
    const headers: Record<string, string> = { "x-forwarded-for": options.ip ?? ADMIN_IP };
    if (options.token !== null) headers.authorization = `Bearer ${options.token ?? ADMIN_TOKEN}`;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    return app.fetch(new Request(`http://localhost${path}`, { method, headers, body }));
  };
  return {
    call,
    probe: async (ip: string, path = "/probe") => (await call("GET", path, { ip, token: null })).status,
    settings: async () => ((await (await call("GET", "/admin/settings")).json()) as { settings: Settings }).settings,
  };
}

const ENDPOINTS: [string, string, unknown?][] = [
  ["GET", "/admin/ip-blocks"],
  ["POST", "/admin/ip-blocks", { target: "203.0.113.9" }],
  ["DELETE", "/admin/ip-blocks/203.0.113.9"],
  ["GET", "/admin/settings"],
  ["PATCH", "/admin/settings", { emergency: { enabled: true } }],
  ["POST", "/admin/emergency", { enabled: true }],
];

describe("admin access", () => {
  let runtime: TestRuntime;
  let unconfigured: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ env: ENV });
    unconfigured = await openTestRuntime({ env: { TRUST_PROXY: "1" } });
  }, OPEN_TIMEOUT_MS);
  afterAll(async () => {
    await runtime.close();
    await unconfigured.close();
  });

  test("every endpoint refuses a missing or wrong bearer token with 401 and changes nothing", async () => {
    const { call, probe } = client(buildApp(runtime, [admin, probes]));
    const before = runtime.settings.current();
    for (const [method, path, body] of ENDPOINTS) {
      for (const token of [null, "wrong-token", ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN}x`]) {
        const response = await call(method, path, { body, token });
        expect(response.status).toBe(401);
        expect(((await response.json()) as ErrorBody).error.code).toBe("UNAUTHORIZED");
      }
    }
    expect(runtime.settings.current()).toBe(before);
    expect(await probe("203.0.113.9")).toBe(200);
  });

  test("with ADMIN_TOKEN unset every endpoint refuses every call", async () => {
    const { call } = client(buildApp(unconfigured, [admin]));
    for (const [method, path, body] of ENDPOINTS) {
      for (const token of ["", "undefined", ADMIN_TOKEN])
        expect((await call(method, path, { body, token })).status).toBe(401);
    }
  });
});

describe.each(STORE_BACKENDS)("admin API on %s", (backend) => {
  let runtime: TestRuntime;
  let app: RampartApp;
  let api: ReturnType<typeof client>;
  let peer: Runtime;
  let peerApi: ReturnType<typeof client>;

  beforeAll(async () => {
    runtime = await openTestRuntime({ store: backend, env: ENV });
    app = buildApp(runtime, [admin, probes]);
    api = client(app);
    // A second instance: its own memory, the same store. Tests poll it, so it sees only what a poll brings.
    peer = await openRuntime(runtime.config, { logger: runtime.logger, db: runtime.db, store: runtime.store });
    peerApi = client(buildApp(peer, [admin, probes]));
    // Redis may hold settings from an earlier run: start from known values.
    await runtime.settings.update(
      { emergency: { enabled: false, limitDivisor: 4, blockThreshold: 50 }, blocking: { threshold: 50 } },
      "test",
    );
  }, OPEN_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("POST blocks a range at once, GET lists it, DELETE with the URL-encoded target lifts it", async () => {
    const a = octet();
    const created = await api.call("POST", "/admin/ip-blocks", {
      body: { target: `10.${a}.7.9/16`, ttlSeconds: 600, reason: "scraping" },
    });
    expect(created.status).toBe(201);
    const { block } = (await created.json()) as { block: Record<string, unknown> };
    expect(block).toMatchObject({ target: `10.${a}.0.0/16`, reason: "scraping", source: "admin", createdBy: "admin" });
    const expiresIn = Date.parse(String(block.expiresAt)) - Date.now();
    expect(expiresIn).toBeGreaterThan(590_000);
    expect(expiresIn).toBeLessThanOrEqual(600_000);

    expect(await api.probe(`10.${a}.200.1`)).toBe(403);
    expect(await api.probe(`10.${(a + 1) % 256}.0.1`)).toBe(200);
    const listed = (await (await api.call("GET", "/admin/ip-blocks")).json()) as { blocks: { target: string }[] };
    expect(listed.blocks.map((b) => b.target)).toContain(`10.${a}.0.0/16`);

    const removed = await api.call("DELETE", `/admin/ip-blocks/${encodeURIComponent(`10.${a}.0.0/16`)}`);
    expect(removed.status).toBe(200);
    expect(await removed.json()).toEqual({ removed: `10.${a}.0.0/16` });
    expect(await api.probe(`10.${a}.200.1`)).toBe(200);
    const after = (await (await api.call("GET", "/admin/ip-blocks")).json()) as { blocks: { target: string }[] };
    expect(after.blocks.map((b) => b.target)).not.toContain(`10.${a}.0.0/16`);
    expect((await api.call("DELETE", `/admin/ip-blocks/${encodeURIComponent(`10.${a}.0.0/16`)}`)).status).toBe(404);
  });

  test("a block without ttlSeconds stays until removed, and reaches the other instance at its next poll", async () => {
    const ip = freshIpv4();
    const created = await api.call("POST", "/admin/ip-blocks", { body: { target: ip } });
    expect(((await created.json()) as { block: { expiresAt: unknown; reason: string } }).block).toMatchObject({
      expiresAt: null,
      reason: "blocked by an operator",
    });
    await peer.settings.poll();
    expect(await peerApi.probe(ip)).toBe(403);
    expect((await api.call("DELETE", `/admin/ip-blocks/${ip}`)).status).toBe(200);
  });

  test("a single IPv6 address blocks its /64, and an IPv6 range covers the /64s inside it", async () => {
    const net = `2001:db8:${hex()}:${hex()}`;
    const single = (await (
      await api.call("POST", "/admin/ip-blocks", { body: { target: `${net}::1`, ttlSeconds: 60 } })
    ).json()) as { block: { target: string } };
    expect(single.block.target).toBe(`${net}::/64`);
    expect(await api.probe(`${net}:ffff::9`)).toBe(403);
    const wide = `2001:db8:${hex()}`;
    expect(
      (await api.call("POST", "/admin/ip-blocks", { body: { target: `${wide}::/48`, ttlSeconds: 60 } })).status,
    ).toBe(201);
    expect(await api.probe(`${wide}:42::1`)).toBe(403);
    expect(await api.probe(`2001:db8:${hex()}:1::1`)).toBe(200);
    const removed = await api.call("DELETE", `/admin/ip-blocks/${encodeURIComponent(`${wide}::/48`)}`);
    expect(await removed.json()).toEqual({ removed: `${wide}:0::/48` });
    expect(await api.probe(`${wide}:42::1`)).toBe(200);
  });

  test(
    "an operator whose own address is blocked can still reach the admin " +
      "endpoints with the token, and only with it",
    async () => {
      const operator = freshIpv4();
      expect((await api.call("POST", "/admin/ip-blocks", { body: { target: operator, ttlSeconds: 60 } })).status).toBe(
        201,
      );
      expect(await api.probe(operator)).toBe(403);
      expect((await api.call("GET", "/admin/ip-blocks", { ip: operator, token: null })).status).toBe(401);
      const lifted = await api.call("DELETE", `/admin/ip-blocks/${operator}`, { ip: operator });
      expect(lifted.status).toBe(200);
      expect(await api.probe(operator)).toBe(200);
    },
  );

  test("invalid targets and bodies are 422 naming the field, and nothing is blocked", async () => {
    const before = (await (await api.call("GET", "/admin/ip-blocks")).json()) as { blocks: unknown[] };
    const bodies: [unknown, string][] = [
      [{ target: "not-an-address" }, "target"],
      [{ target: "10.0.0.0/33" }, "target"],
      [{ target: "2001:db8::/96" }, "target"],
      [{ target: "10.0.0.0/8/8" }, "target"],
      [{ target: "0.0.0.0/0" }, "target"],
      [{ target: "10.0.0.0/7" }, "target"],
      [{ target: "::/0" }, "target"],
      [{ target: "2001:db8::/31" }, "target"],
      [{ target: "" }, "target"],
      [{}, "target"],
      [{ target: "203.0.113.5", ttl: 60 }, "ttl"],
      [{ target: "203.0.113.5", ttlSeconds: 0 }, "ttlSeconds"],
      [{ target: "203.0.113.5", ttlSeconds: 1.5 }, "ttlSeconds"],
      [{ target: "203.0.113.5", reason: 7 }, "reason"],
    ];
    for (const [body, field] of bodies) {
      const response = await api.call("POST", "/admin/ip-blocks", { body });
      expect(response.status).toBe(422);
      const { error } = (await response.json()) as ErrorBody;
      expect(error.code).toBe("VALIDATION_FAILED");
      expect(error.details?.fields?.map((f) => f.path)).toContain(field);
    }
    expect((await api.call("DELETE", "/admin/ip-blocks/not-an-address")).status).toBe(422);
    expect(await api.probe("203.0.113.5")).toBe(200);
    const after = (await (await api.call("GET", "/admin/ip-blocks")).json()) as { blocks: unknown[] };
    expect(after.blocks).toEqual(before.blocks);
  });

  test(
    "a lone UTF-16 surrogate in a block's reason or a settings rule name " +
      "is 400 BAD_REQUEST: no block, no change, no audit row",
    async () => {
      const ip = freshIpv4();
      const settingsBefore = await api.settings();
      const auditedBefore = await runtime.db.primary.select().from(auditEvents);
      const lone = "\ud800";
      const requests: [string, string, unknown][] = [
        ["POST", "/admin/ip-blocks", { target: ip, ttlSeconds: 60, reason: `scraping ${lone}` }],
        [
          "PATCH",
          "/admin/settings",
          { rateLimitOverrides: { "/eight": [{ name: lone, limit: 1_000, windowMs: 1_000, scope: "ip" }] } },
        ],
      ];
      for (const [method, path, body] of requests) {
        const response = await api.call(method, path, { body });
        expect({ path, status: response.status, code: ((await response.json()) as ErrorBody).error.code }).toEqual({
          path,
          status: 400,
          code: "BAD_REQUEST",
        });
      }
      expect(await api.probe(ip)).toBe(200);
      expect(await api.settings()).toEqual(settingsBefore);
      expect((await runtime.db.primary.select().from(auditEvents)).length).toBe(auditedBefore.length);
    },
  );

  test(
    "PATCH /admin/settings applies a partial change here at once and on " + "the other instance at its next poll",
    async () => {
      const threshold = 40 + Math.floor(Math.random() * 50);
      const response = await api.call("PATCH", "/admin/settings", {
        body: { blocking: { threshold }, timeoutsMs: { read: 4_000 } },
      });
      expect(response.status).toBe(200);
      const { settings } = (await response.json()) as { settings: Settings };
      expect(settings.blocking.threshold).toBe(threshold);
      expect(settings.timeoutsMs.read).toBe(4_000);
      expect(settings.blocking.windowMs).toBe(runtime.settings.current().blocking.windowMs);
      expect(await api.settings()).toEqual(settings);

      await peer.settings.poll();
      expect(await peerApi.settings()).toEqual(settings);
      expect(
        runtime.logLines.some((line) => line.includes('"settings changed"') && line.includes('"actor":"admin"')),
      ).toBe(true);
    },
  );

  test("an invalid settings patch is 422 with the failing fields, and nothing changes here or elsewhere", async () => {
    const before = await api.settings();
    const patches: [unknown, string][] = [
      [{ blocking: { threshold: 0 } }, "blocking.threshold"],
      [{ blocking: { treshold: 5 } }, "blocking.treshold"],
      [{ emergency: { enabled: "yes" } }, "emergency.enabled"],
      [{ cors: { origins: ["*"] } }, "cors.origins.0"],
      [{ timeoutsMs: { read: -1 } }, "timeoutsMs.read"],
      [{ version: 1_000 }, "version"],
      [{ maintenance: true }, "maintenance"],
      [{ rateLimitOverrides: { v1: [] } }, "rateLimitOverrides.v1"],
    ];
    for (const [body, field] of patches) {
      const response = await api.call("PATCH", "/admin/settings", { body });
      expect(response.status).toBe(422);
      const { error } = (await response.json()) as ErrorBody;
      expect(error.code).toBe("VALIDATION_FAILED");
      expect(error.details?.fields?.map((f) => f.path)).toContain(field);
    }
    const badRule = { rateLimitOverrides: { "/v1": [{ name: "x", limit: 1, windowMs: 1_000, scope: "planet" }] } };
    expect((await api.call("PATCH", "/admin/settings", { body: badRule })).status).toBe(422);
    await peer.settings.poll();
    expect(await api.settings()).toEqual(before);
    expect(await peerApi.settings()).toEqual(before);
  });

  test(
    "POST /admin/emergency tightens every rate limit: a route allowing 8 " +
      "per minute admits 2 with the divisor of 4",
    async () => {
      const on = await api.call("POST", "/admin/emergency", { body: { enabled: true } });
      expect(on.status).toBe(200);
      expect(((await on.json()) as { emergency: Settings["emergency"] }).emergency).toMatchObject({
        enabled: true,
        limitDivisor: 4,
      });
      try {
        const ip = freshIpv4();
        const statuses = [];
        for (let i = 0; i < 4; i++) statuses.push(await api.probe(ip, "/eight"));
        expect(statuses).toEqual([200, 200, 429, 429]);
      } finally {
        expect((await api.call("POST", "/admin/emergency", { body: { enabled: false } })).status).toBe(200);
      }
      const ip = freshIpv4();
      const statuses = [];
      for (let i = 0; i < 9; i++) statuses.push(await api.probe(ip, "/eight"));
      expect(statuses).toEqual([...Array<number>(8).fill(200), 429]);
      expect((await api.call("POST", "/admin/emergency", { body: { enabled: "true" } })).status).toBe(422);
      expect((await api.call("POST", "/admin/emergency", { body: { enabled: true, divisor: 2 } })).status).toBe(422);
    },
  );

  test(
    "rateLimitOverrides replace a route's declared limits here and on the " +
      "other instance, and removing them restores the declared ones",
    async () => {
      const override = { "/eight": [{ name: "tight", limit: 2, windowMs: 60_000, scope: "ip" as const }] };
      const response = await api.call("PATCH", "/admin/settings", { body: { rateLimitOverrides: override } });
      expect(response.status).toBe(200);
      try {
        const ip = freshIpv4();
        const statuses = [];
        for (let i = 0; i < 3; i++) statuses.push(await api.probe(ip, "/eight"));
        expect(statuses).toEqual([200, 200, 429]);
        await peer.settings.poll();
        const peerIp = freshIpv4();
        const peerStatuses = [];
        for (let i = 0; i < 3; i++) peerStatuses.push(await peerApi.probe(peerIp, "/eight"));
        expect(peerStatuses).toEqual([200, 200, 429]);
        const limited = await peerApi.call("GET", "/eight", { ip: peerIp, token: null });
        expect(limited.headers.get("ratelimit-policy")).toBe("2;w=60");
      } finally {
        expect((await api.call("PATCH", "/admin/settings", { body: { rateLimitOverrides: {} } })).status).toBe(200);
      }
      const ip = freshIpv4();
      const statuses = [];
      for (let i = 0; i < 9; i++) statuses.push(await api.probe(ip, "/eight"));
      expect(statuses).toEqual([...Array<number>(8).fill(200), 429]);
    },
  );

  test(
    "each CORS setting changed through PATCH /admin/settings takes effect " +
      "on the next request, here and on the other instance",
    async () => {
      const origin = `https://app-${hex()}.example.com`;
      const peerApp = buildApp(peer, [admin, probes]);
      const cors = async (target: RampartApp, preflight: boolean) => {
        const headers: Record<string, string> = { origin, "x-forwarded-for": ADMIN_IP };
        if (preflight) headers["access-control-request-method"] = "GET";
        const response = await target.fetch(
          new Request("http://localhost/probe", { method: preflight ? "OPTIONS" : "GET", headers }),
        );
        const read = (name: string) => response.headers.get(name);
        return preflight
          ? {
              origin: read("access-control-allow-origin"),
              credentials: read("access-control-allow-credentials"),
              maxAge: read("access-control-max-age"),
            }
          : { origin: read("access-control-allow-origin"), credentials: read("access-control-allow-credentials") };
      };
      const everywhere = async () => {
        await peer.settings.poll();
        return [await cors(app, true), await cors(app, false), await cors(peerApp, true), await cors(peerApp, false)];
      };
      try {
        expect(
          (
            await api.call("PATCH", "/admin/settings", {
              body: { cors: { origins: [origin], credentials: true, maxAgeSeconds: 1_234 } },
            })
          ).status,
        ).toBe(200);
        const allowedWithCredentials = [
          { origin, credentials: "true", maxAge: "1234" },
          { origin, credentials: "true" },
        ];
        expect(await everywhere()).toEqual([...allowedWithCredentials, ...allowedWithCredentials]);

        expect(
          (await api.call("PATCH", "/admin/settings", { body: { cors: { credentials: false, maxAgeSeconds: 0 } } }))
            .status,
        ).toBe(200);
        const allowedWithout = [
          { origin, credentials: null, maxAge: "0" },
          { origin, credentials: null },
        ];
        expect(await everywhere()).toEqual([...allowedWithout, ...allowedWithout]);
      } finally {
        expect(
          (
            await api.call("PATCH", "/admin/settings", {
              body: { cors: { origins: [], credentials: false, maxAgeSeconds: 600 } },
            })
          ).status,
        ).toBe(200);
      }
    },
  );

  test("each change is recorded in the audit log as done by the admin", async () => {
    const ip = freshIpv4();
    await api.call("POST", "/admin/ip-blocks", { body: { target: ip, ttlSeconds: 60, reason: "audit check" } });
    const rows = await runtime.db.primary.select().from(auditEvents).where(eq(auditEvents.targetId, ip));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      action: "admin.ip_block.added",
      actorType: "admin",
      actorId: "admin",
      targetType: "ip",
      ip: ADMIN_IP,
    });
    expect(rows[0]?.metadata).toMatchObject({ reason: "audit check" });
    const changes = await runtime.db.primary
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "admin.emergency.changed"));
    expect(changes.length).toBeGreaterThanOrEqual(2);
  });
});
