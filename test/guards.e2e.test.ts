/**
 * The guard chain end to end, through buildApp(...).fetch: security headers on every status, cache
 * policy, CORS, rate limits and the client address behind them, body limits and types, strict JSON,
 * schemas, route deadlines and admin access.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type } from "arktype";
import { Elysia } from "elysia";
import { loadConfig } from "../lib/config/config.ts";
import { requestContextOf } from "../lib/core/request-context.ts";
import { MiB, type RoutePolicy } from "../lib/core/route-policy.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { policyPlugin } from "../lib/http/policy-plugin.ts";
import { defineRouteGroup } from "../lib/http/route-group.ts";
import { createLogger, createMemorySink } from "../lib/log/logger.ts";
import { openRuntime } from "../lib/runtime/runtime.ts";
import { settingsFromConfig, staticSettings } from "../lib/settings/settings.ts";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "./backends.ts";

const APP_ORIGIN = "https://app.example.com";
const ADMIN_TOKEN = "x".repeat(32);
const BASE_ENV = { CORS_ORIGINS: APP_ORIGIN, ADMIN_TOKEN };
const SLOW_ROUTE_DEADLINE_MS = 150;

const open: RoutePolicy = { access: "public", rateLimits: [] };
const tight: RoutePolicy = {
  access: "public",
  rateLimits: [{ name: "tight", limit: 3, windowMs: 60_000, scope: "ip" }],
};
const ThingBody = type({ "+": "reject", name: "string", "count?": "number.integer" });

/** What the handlers saw, so a test can tell whether a guard stopped a request before its handler. */
const handled = { things: 0, bulk: 0, admin: 0, slowSignal: undefined as AbortSignal | undefined };

const guarded = defineRouteGroup("guarded", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/ok", () => ({ ok: true }), { policy: open })
    .delete(
      "/things/:id",
      ({ set }) => {
        set.status = 204;
      },
      { policy: open },
    )
    .post(
      "/things",
      ({ body }) => {
        handled.things++;
        return { received: body };
      },
      { policy: { ...open, bodyLimitBytes: 1024 }, body: ThingBody },
    )
    .post(
      "/bulk",
      ({ body }) => {
        handled.bulk++;
        return { size: JSON.stringify(body).length };
      },
      { policy: open },
    )
    .get("/limited", () => ({ ok: true }), { policy: tight })
    .get(
      "/crash",
      () => {
        throw new Error("boom");
      },
      { policy: open },
    )
    .get(
      "/catalog",
      ({ query }) => {
        if (query.fail !== undefined) throw new Error("catalog backend failed");
        return { items: [] };
      },
      { policy: { ...tight, cache: "public, max-age=60" } },
    )
    .get("/docs", () => ({ html: false }), {
      policy: { ...open, headers: { "Content-Security-Policy": "default-src 'self'", "X-Robots-Tag": "noindex" } },
    })
    .get("/items/:id", ({ params }) => ({ id: params.id, length: params.id.length }), { policy: open })
    .get(
      "/admin/stats",
      () => {
        handled.admin++;
        return { stats: true };
      },
      { policy: { access: "admin", rateLimits: [] } },
    )
    .get(
      "/slow",
      async ({ request }) => {
        handled.slowSignal = requestContextOf(request).signal;
        await Bun.sleep(600);
        return { finished: true };
      },
      { policy: { ...open, timeout: "cron" } },
    )
    .get(
      "/patient",
      async () => {
        await Bun.sleep(300);
        return { finished: true };
      },
      { policy: { ...open, timeout: "read" } },
    ),
);

let runtime: TestRuntime;
let app: RampartApp;

/** Another app on the same database, with its own configuration and a short deadline for the "cron" class. */
async function appWith(env: Record<string, string>) {
  const config = loadConfig({ NODE_ENV: "test", ...env });
  const capture = createMemorySink();
  const base = settingsFromConfig(config);
  const settings = staticSettings({ ...base, timeoutsMs: { ...base.timeoutsMs, cron: SLOW_ROUTE_DEADLINE_MS } });
  const local = await openRuntime(config, {
    db: runtime.db,
    logger: createLogger({ level: "debug", sink: capture.sink }),
    settings,
  });
  return { app: buildApp(local, [guarded]), logLines: capture.lines };
}

let proxied: RampartApp;
let timed: Awaited<ReturnType<typeof appWith>>;
let noAdminToken: RampartApp;

beforeAll(async () => {
  runtime = await openTestRuntime({ env: { ...BASE_ENV, TRUST_PROXY: "none" } });
  app = buildApp(runtime, [guarded]);
  proxied = (await appWith({ ...BASE_ENV, TRUST_PROXY: "1" })).app;
  timed = await appWith(BASE_ENV);
  noAdminToken = (await appWith({ CORS_ORIGINS: APP_ORIGIN })).app;
}, BACKEND_HOOK_TIMEOUT_MS);
afterAll(() => runtime.close());

let nextAddress = 1;
/** A client address no other test uses, so rate-limit buckets never leak between tests. */
const freshAddress = () => `198.18.${Math.floor(nextAddress / 250)}.${(nextAddress++ % 250) + 1}`;
const from = (address: string) => ({ requestIP: () => ({ address }) });

function send(target: RampartApp, path: string, init: RequestInit & { ip?: string } = {}) {
  const { ip = "203.0.113.7", ...rest } = init;
  return target.fetch(new Request(`http://localhost${path}`, rest), from(ip));
}
const postJson = (path: string, body: string, init: RequestInit & { ip?: string } = {}) =>
  send(app, path, {
    ...init,
    method: "POST",
    body,
    headers: { "content-type": "application/json", ...(init.headers as Record<string, string>) },
  });

async function errorOf(response: Response) {
  expect(response.headers.get("content-type")).toStartWith("application/json");
  const body = (await response.json()) as {
    error: { code: string; message: string; requestId: string; details?: Record<string, unknown> };
  };
  expect(body.error.requestId).toBe(response.headers.get("x-request-id") ?? "missing");
  return body.error;
}

async function exhaust(target: RampartApp, path: string, ip: string, headers: Record<string, string> = {}) {
  const responses: Response[] = [];
  for (let i = 0; i < 4; i++) responses.push(await send(target, path, { ip, headers }));
  return responses;
}

const SECURITY_HEADERS = {
  "strict-transport-security": "max-age=31536000; includeSubDomains",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

function expectSecurityHeaders(response: Response) {
  for (const [name, value] of Object.entries(SECURITY_HEADERS))
    expect(`${name}: ${response.headers.get(name)}`).toBe(`${name}: ${value}`);
  expect(response.headers.get("permissions-policy")).toContain("camera=()");
  expect(response.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
  expect(response.headers.get("x-powered-by")).toBeNull();
  expect(response.headers.get("server")).toBeNull();
}

describe("security headers", () => {
  const cases: [string, number, () => Promise<Response>][] = [
    ["200", 200, () => send(app, "/ok")],
    ["204", 204, () => send(app, "/things/1", { method: "DELETE" })],
    ["401", 401, () => send(app, "/admin/stats")],
    ["404", 404, () => send(app, "/nowhere")],
    ["405", 405, () => send(app, "/ok", { method: "PUT" })],
    ["413", 413, () => postJson("/things", JSON.stringify({ name: "x".repeat(2_000) }))],
    [
      "415",
      415,
      () =>
        send(app, "/things", {
          method: "POST",
          body: "name=x",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        }),
    ],
    ["422", 422, () => postJson("/things", JSON.stringify({ name: 1 }))],
    ["429", 429, async () => (await exhaust(app, "/limited", freshAddress()))[3] as Response],
    ["500", 500, () => send(app, "/crash")],
    ["504", 504, () => send(timed.app, "/slow")],
  ];

  test.each(cases)("are on a %s response, with X-Request-ID and no-store", async (_, status, respond) => {
    const response = await respond();
    expect(response.status).toBe(status);
    expectSecurityHeaders(response);
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  test("are on a CORS preflight answer too", async () => {
    const response = await send(app, "/things", {
      method: "OPTIONS",
      headers: { origin: APP_ORIGIN, "access-control-request-method": "POST" },
    });
    expectSecurityHeaders(response);
  });

  test("a route's declared cache policy replaces no-store on its successful responses", async () => {
    const response = await send(app, "/catalog", { ip: freshAddress() });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("public, max-age=60");
    expect((await send(app, "/ok")).headers.get("cache-control")).toBe("no-store");
  });

  // A shared cache honouring "public, max-age=60" would serve one failure, or one client's refusal, to everyone.
  test("a 500 from a cacheable route is not cacheable", async () => {
    const crashed = await send(app, "/catalog?fail=1", { ip: freshAddress() });
    expect(crashed.status).toBe(500);
    expect(crashed.headers.get("cache-control")).toBe("no-store");
  });

  test("a 429 from a cacheable route is not cacheable", async () => {
    const [, , , refused] = await exhaust(app, "/catalog", freshAddress());
    expect(refused?.status).toBe(429);
    expect(refused?.headers.get("cache-control")).toBe("no-store");
  });

  test("a route's header override replaces that header for that route only", async () => {
    const docs = await send(app, "/docs");
    expect(docs.headers.get("content-security-policy")).toBe("default-src 'self'");
    expect(docs.headers.get("x-robots-tag")).toBe("noindex");
    expect(docs.headers.get("x-frame-options")).toBe("DENY");
    const other = await send(app, "/ok");
    expect(other.headers.get("content-security-policy")).toBe(SECURITY_HEADERS["content-security-policy"]);
    expect(other.headers.get("x-robots-tag")).toBeNull();
  });

  test("served over HTTP, no X-Powered-By or Server banner names the stack", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
    try {
      for (const path of ["/ok", "/nowhere", "/crash"]) {
        const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
        expect(response.headers.get("x-powered-by")).toBeNull();
        expect(response.headers.get("server")).toBeNull();
        expect(response.headers.get("x-frame-options")).toBe("DENY");
        await response.arrayBuffer();
      }
    } finally {
      server.stop(true);
    }
  });
});

describe("CORS", () => {
  test("an allowed origin is echoed exactly, with Vary: Origin and the rate-limit headers exposed", async () => {
    const response = await send(app, "/ok", { headers: { origin: APP_ORIGIN } });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(response.headers.get("vary")?.toLowerCase()).toContain("origin");
    expect(response.headers.get("access-control-expose-headers")).toContain("retry-after");
  });

  test.each([
    "https://evil.example",
    "null",
    "http://app.example.com",
    "https://app.example.com.evil.tld",
    "https://evil-app.example.com",
    "https://app.example.com:8443",
  ])("%s gets no Access-Control-Allow-Origin (and no credentials)", async (origin) => {
    const response = await send(app, "/ok", { headers: { origin } });
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  test(
    "a preflight from an allowed origin is answered 204 at once, with methods, headers and Max-Age, without " +
      "running the handler",
    async () => {
      const before = handled.things;
      const response = await send(app, "/things", {
        method: "OPTIONS",
        headers: {
          origin: APP_ORIGIN,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, authorization",
        },
      });
      expect(response.status).toBe(204);
      expect(response.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
      expect(response.headers.get("access-control-allow-methods")).toContain("POST");
      expect(response.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("content-type");
      expect(Number(response.headers.get("access-control-max-age"))).toBe(
        runtime.settings.current().cors.maxAgeSeconds,
      );
      expect(handled.things).toBe(before);
    },
  );

  test("a preflight from another origin gets no permission", async () => {
    const response = await send(app, "/things", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-methods")).toBeNull();
  });

  test("allowed methods and headers go on preflights only, not on every response", async () => {
    const response = await send(app, "/ok", { headers: { origin: APP_ORIGIN } });
    expect(response.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(response.headers.get("access-control-expose-headers")).toContain("retry-after");
    expect(response.headers.get("access-control-allow-methods")).toBeNull();
    expect(response.headers.get("access-control-allow-headers")).toBeNull();
  });

  test("a 429 carries the CORS headers, so the browser lets the page read Retry-After", async () => {
    const responses = await exhaust(app, "/limited", freshAddress(), { origin: APP_ORIGIN });
    const refused = responses[3] as Response;
    expect(refused.status).toBe(429);
    expect(refused.headers.get("access-control-allow-origin")).toBe(APP_ORIGIN);
    expect(refused.headers.get("access-control-expose-headers")).toContain("retry-after");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });
});

describe("rate limits", () => {
  test(
    "every limited response carries RateLimit-Limit/Remaining/Reset/Policy, and the refusal is 429 RATE_LIMITED " +
      "with Retry-After",
    async () => {
      const responses = await exhaust(app, "/limited", freshAddress());
      expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(responses.map((r) => r.headers.get("ratelimit-remaining"))).toEqual(["2", "1", "0", "0"]);
      for (const response of responses) {
        expect(response.headers.get("ratelimit-limit")).toBe("3");
        expect(response.headers.get("ratelimit-policy")).toBe("3;w=60");
        const reset = Number(response.headers.get("ratelimit-reset"));
        expect(reset).toBeGreaterThanOrEqual(0);
        expect(reset).toBeLessThanOrEqual(60);
      }
      const refused = responses[3] as Response;
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect((await errorOf(refused)).code).toBe("RATE_LIMITED");
      expect(responses[0]?.headers.get("retry-after")).toBeNull();
    },
  );

  test("a route without limits sends no RateLimit headers", async () => {
    expect((await send(app, "/ok")).headers.get("ratelimit-limit")).toBeNull();
  });

  test("TRUST_PROXY=none: a spoofed X-Forwarded-For, new on every request, does not reset the bucket", async () => {
    const ip = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await send(app, "/limited", { ip, headers: { "x-forwarded-for": `10.9.8.${i}` } })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  test(
    "TRUST_PROXY=1: the last hop is the client; entries before it cannot reset the bucket, another last hop is " +
      "another client",
    async () => {
      const proxy = "10.0.0.1";
      const client = freshAddress();
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++)
        statuses.push(
          (await send(proxied, "/limited", { ip: proxy, headers: { "x-forwarded-for": `6.6.6.${i}, ${client}` } }))
            .status,
        );
      expect(statuses).toEqual([200, 200, 200, 429]);
      const other = await send(proxied, "/limited", {
        ip: proxy,
        headers: { "x-forwarded-for": `${client}, ${freshAddress()}` },
      });
      expect(other.status).toBe(200);
    },
  );

  test("::ffff:1.2.3.4 and 1.2.3.4 are one client and share one bucket", async () => {
    const ip = freshAddress();
    const statuses: number[] = [];
    for (const address of [ip, `::ffff:${ip}`, ip, `::ffff:${ip}`])
      statuses.push((await send(app, "/limited", { ip: address })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  test("two IPv4 clients do not share a bucket", async () => {
    const first = freshAddress();
    await exhaust(app, "/limited", first);
    expect((await send(app, "/limited", { ip: first })).status).toBe(429);
    expect((await send(app, "/limited", { ip: freshAddress() })).status).toBe(200);
  });

  test("IPv6 clients in one /64 share a bucket; another /64 does not", async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 4; i++) statuses.push((await send(app, "/limited", { ip: `2001:db8:77:1::${i}` })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect((await send(app, "/limited", { ip: "2001:db8:77:2::1" })).status).toBe(200);
  });
});

describe("bodies", () => {
  test("a declared Content-Length over the route's limit is 413 before the handler runs", async () => {
    const before = handled.things;
    const body = JSON.stringify({ name: "x".repeat(2_000) });
    const response = await postJson("/things", body, { headers: { "content-length": String(body.length) } });
    expect(response.status).toBe(413);
    const error = await errorOf(response);
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(error.details).toEqual({ limitBytes: 1024 });
    expect(handled.things).toBe(before);
  });

  test(
    "a chunked 2 MiB body (no Content-Length) is 413 against the " + "default 1 MiB limit, and is not read to the end",
    async () => {
      const before = handled.bulk;
      let pulled = 0;
      const chunk = new TextEncoder().encode(`[${'"abcdefghijklmnopqrstuvwxyz",'.repeat(2_000)}`);
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (pulled >= 2 * MiB) return controller.close();
          pulled += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });
      const response = await send(app, "/bulk", {
        method: "POST",
        body: stream,
        headers: { "content-type": "application/json" },
      });
      expect(response.status).toBe(413);
      expect((await errorOf(response)).details).toEqual({ limitBytes: MiB });
      expect(handled.bulk).toBe(before);
      expect(pulled).toBeLessThan(2 * MiB);
    },
  );

  test("a body just under the default limit is accepted", async () => {
    const body = JSON.stringify({ blob: "x".repeat(MiB - 100) });
    const response = await postJson("/bulk", body);
    expect(response.status).toBe(200);
  });

  test("a content type the route does not accept is 415 naming the accepted types", async () => {
    const response = await send(app, "/things", {
      method: "POST",
      body: "<thing/>",
      headers: { "content-type": "application/xml" },
    });
    expect(response.status).toBe(415);
    const error = await errorOf(response);
    expect(error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect(error.details).toEqual({ accepted: ["application/json"] });
  });

  test("a __proto__ key is 400 and never reaches the handler", async () => {
    const before = handled.things;
    for (const body of ['{"name":"a","__proto__":{"isAdmin":true}}', '{"name":"a","\\u005f_proto__":{}}']) {
      const response = await postJson("/things", body);
      expect(response.status).toBe(400);
      expect((await errorOf(response)).code).toBe("BAD_REQUEST");
    }
    expect(handled.things).toBe(before);
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });

  test("invalid UTF-8 is 400 INVALID_JSON", async () => {
    const response = await send(app, "/things", {
      method: "POST",
      body: new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(400);
    expect((await errorOf(response)).code).toBe("INVALID_JSON");
  });

  test('an unknown field is rejected by a schema with "+": "reject" as 422 naming the field', async () => {
    const before = handled.things;
    const response = await postJson("/things", JSON.stringify({ name: "a", isAdmin: true }));
    expect(response.status).toBe(422);
    const error = await errorOf(response);
    expect(error.code).toBe("VALIDATION_FAILED");
    const fields = (error.details as { fields: { path: string }[] }).fields;
    expect(fields.map((f) => f.path)).toContain("isAdmin");
    expect(handled.things).toBe(before);
  });

  test("a valid body within every limit reaches the handler", async () => {
    const response = await postJson("/things", JSON.stringify({ name: "widget", count: 2 }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ received: { name: "widget", count: 2 } });
  });
});

describe("timeouts", () => {
  test(
    "a handler slower than its route class's deadline gets 504 " + "TIMEOUT at the deadline, and its signal aborts",
    async () => {
      const started = performance.now();
      const response = await send(timed.app, "/slow");
      const elapsed = performance.now() - started;
      expect(response.status).toBe(504);
      expect((await errorOf(response)).code).toBe("TIMEOUT");
      expect(elapsed).toBeLessThan(500);
      expect(handled.slowSignal?.aborted).toBe(true);
      expect(
        timed.logLines.some(
          (line) =>
            line.includes('"request deadline passed"') && line.includes(`"deadlineMs":${SLOW_ROUTE_DEADLINE_MS}`),
        ),
      ).toBe(true);
    },
  );

  test("the deadline is the route's class: the same wait on a route with a longer class completes", async () => {
    const response = await send(timed.app, "/patient");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ finished: true });
  });
});

describe("admin access", () => {
  test.each([
    ["no Authorization header", undefined],
    ["a wrong token", `Bearer ${"y".repeat(32)}`],
    ["the token without the Bearer scheme", ADMIN_TOKEN],
    ["a prefix of the token", `Bearer ${ADMIN_TOKEN.slice(0, 31)}`],
    ["the token with a suffix", `Bearer ${ADMIN_TOKEN}x`],
    ["Basic credentials", `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}`],
  ])("%s is 401 UNAUTHORIZED", async (_, authorization) => {
    const response = await send(app, "/admin/stats", { headers: authorization === undefined ? {} : { authorization } });
    expect(response.status).toBe(401);
    expect((await errorOf(response)).code).toBe("UNAUTHORIZED");
  });

  test("the right token is admitted", async () => {
    const response = await send(app, "/admin/stats", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ stats: true });
  });

  test("with ADMIN_TOKEN unset every call is refused: fail closed", async () => {
    const before = handled.admin;
    for (const authorization of [undefined, "Bearer ", "Bearer undefined", `Bearer ${ADMIN_TOKEN}`]) {
      const response = await send(noAdminToken, "/admin/stats", {
        headers: authorization === undefined ? {} : { authorization },
      });
      expect(response.status).toBe(401);
    }
    expect(handled.admin).toBe(before);
  });
});

/** Writes raw bytes to a served app and returns the status line of its answer. */
async function rawStatusLine(target: RampartApp, bytes: string): Promise<string> {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: target.fetch });
  try {
    return await new Promise<string>((resolve, reject) => {
      let received = "";
      const timer = setTimeout(() => reject(new Error(`no answer; got ${JSON.stringify(received)}`)), 3_000);
      void Bun.connect({
        hostname: "127.0.0.1",
        port: server.port as number,
        socket: {
          open: (socket) => void socket.write(bytes),
          data: (_, chunk) => void (received += new TextDecoder().decode(chunk)),
          close: () => {
            clearTimeout(timer);
            resolve(received.split("\r\n")[0] ?? "");
          },
        },
      });
    });
  } finally {
    server.stop(true);
  }
}

// The guards find a request's route in their own table; Elysia then routes it again. Wherever the two
// disagree, a request can be guarded as one route (or as none) and handled by another.
describe("routing cannot steer a request around the guards", () => {
  test("HEAD on an admin GET route demands the token, and the handler does not run", async () => {
    const before = handled.admin;
    const response = await send(app, "/admin/stats", { method: "HEAD" });
    expect(response.status).toBe(401);
    expect(handled.admin).toBe(before);
  });

  test("HEAD requests count against a GET route's rate limit", async () => {
    const ip = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(app, "/limited", { ip, method: "HEAD" })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  test(
    "a short Host cannot shift the path Elysia routes: /ab/admin/stats on host x is no route, not the admin " +
      "handler",
    async () => {
      const before = handled.admin;
      const urls = [
        "http://x/ab/admin/stats",
        "http://a.b//admin/stats",
        "http://ab/c/admin/stats",
        "http://xx/?/admin/stats",
      ];
      const answers = await Promise.all(
        urls.map(async (url) => `${url} → ${(await app.fetch(new Request(url), from("203.0.113.7"))).status}`),
      );
      expect(answers.filter((answer) => answer.endsWith("→ 200"))).toEqual([]);
      expect(handled.admin).toBe(before);
    },
  );

  test("over HTTP, a one-letter Host header cannot reach the admin handler without the token", async () => {
    const before = handled.admin;
    const statusLine = await rawStatusLine(app, "GET /ab/admin/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(statusLine).not.toBe("HTTP/1.1 200 OK");
    expect(handled.admin).toBe(before);
  });

  test("over HTTP/1.0 without a Host header, an admin route still demands the token", async () => {
    const before = handled.admin;
    expect(await rawStatusLine(app, "GET /admin/stats HTTP/1.0\r\n\r\n")).toBe("HTTP/1.1 401 Unauthorized");
    expect(handled.admin).toBe(before);
  });
});

describe("paths", () => {
  test("a percent-encoded path parameter reaches the handler decoded", async () => {
    const response = await send(app, "/items/a%20b");
    expect(await response.json()).toEqual({ id: "a b", length: 3 });
  });

  test.each(["/items/a%00b", "/items/abc?q=%00", "/items/abc?q=x%00y"])(
    "an encoded NUL anywhere in the URL (%s) is 400, never reaching a handler or the database",
    async (target) => {
      const response = await send(app, target);
      expect(response.status).toBe(400);
      expect((await errorOf(response)).code).toBe("BAD_REQUEST");
    },
  );

  test.each(["%ff", "%", "%E0%A4%A", "abc%zz"])(
    "a malformed percent-escape in a path parameter (%s) is 400, not a null parameter in the handler",
    async (raw) => {
      const response = await send(app, `/items/${raw}`);
      expect(response.status).toBe(400);
      expect((await errorOf(response)).code).toBe("BAD_REQUEST");
    },
  );
});
