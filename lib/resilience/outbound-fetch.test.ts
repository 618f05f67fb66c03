import { afterAll, describe, expect, test } from "bun:test";
import { createLogger, createMemorySink } from "../log/logger.ts";
import { backoffDelay, createOutboundFetch } from "./outbound-fetch.ts";

// A real HTTP server on loopback stands in for the third-party API.
let failuresLeft = 0;
const hits: string[] = [];
const upstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(request) {
    const path = new URL(request.url).pathname;
    hits.push(`${request.method} ${path}`);
    if (path === "/slow") await Bun.sleep(500);
    if (path === "/flaky" && failuresLeft-- > 0) return new Response("busy", { status: 503 });
    if (path === "/down") return new Response("down", { status: 502 });
    return Response.json({ ok: true });
  },
});
afterAll(() => upstream.stop(true));
const base = `http://127.0.0.1:${upstream.port}`;

describe("outbound fetch", () => {
  test("retries an idempotent request through transient 503s", async () => {
    failuresLeft = 2;
    hits.length = 0;
    const fetchOut = createOutboundFetch(createLogger({ sink: () => {} }), { baseDelayMs: 1 });
    const response = await fetchOut(`${base}/flaky`);
    expect(response.status).toBe(200);
    expect(hits).toEqual(["GET /flaky", "GET /flaky", "GET /flaky"]);
  });

  test("never retries a POST", async () => {
    failuresLeft = 1;
    hits.length = 0;
    const fetchOut = createOutboundFetch(createLogger({ sink: () => {} }), { baseDelayMs: 1 });
    const response = await fetchOut(`${base}/flaky`, { method: "POST", body: "{}" });
    expect(response.status).toBe(503);
    expect(hits).toEqual(["POST /flaky"]);
  });

  test("a POST marked idempotent is retried through transient 503s", async () => {
    failuresLeft = 1;
    hits.length = 0;
    const fetchOut = createOutboundFetch(createLogger({ sink: () => {} }), { baseDelayMs: 1 });
    const response = await fetchOut(`${base}/flaky`, { method: "POST", body: "{}", idempotent: true });
    expect(response.status).toBe(200);
    expect(hits).toEqual(["POST /flaky", "POST /flaky"]);
  });

  test("throwOnRetryableStatus: a host that keeps answering 5xx opens the breaker", async () => {
    const fetchOut = createOutboundFetch(createLogger({ sink: () => {} }), {
      retries: 0,
      throwOnRetryableStatus: true,
      breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    hits.length = 0;
    await expect(fetchOut(`${base}/down`)).rejects.toThrow("upstream answered 502");
    await expect(fetchOut(`${base}/down`)).rejects.toThrow("upstream answered 502");
    await expect(fetchOut(`${base}/down`)).rejects.toThrow();
    expect(hits).toEqual(["GET /down", "GET /down"]);
  });

  test("a call past its deadline is aborted", async () => {
    const fetchOut = createOutboundFetch(createLogger({ sink: () => {} }), { timeoutMs: 50, retries: 0 });
    const started = performance.now();
    await expect(fetchOut(`${base}/slow`)).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(400);
  });

  test("consecutive failures open the breaker, which then fails fast without calling upstream", async () => {
    const capture = createMemorySink();
    const fetchOut = createOutboundFetch(createLogger({ sink: capture.sink }), {
      retries: 0,
      breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    hits.length = 0;
    // Without retries a 5xx is returned, not thrown; an unreachable port is a real failure.
    const dead = "http://127.0.0.1:9/unreachable";
    await expect(fetchOut(dead)).rejects.toThrow();
    await expect(fetchOut(dead)).rejects.toThrow();
    const started = performance.now();
    await expect(fetchOut(dead)).rejects.toThrow(/open|circuit/i);
    expect(performance.now() - started).toBeLessThan(20);
    expect(capture.lines.some((line) => line.includes('"circuit opened"'))).toBe(true);
  });

  test("backoff grows exponentially, is capped, and is jittered", () => {
    expect(backoffDelay(0, 100, 2_000, () => 0.999)).toBe(99);
    expect(backoffDelay(3, 100, 2_000, () => 0.999)).toBe(799);
    expect(backoffDelay(10, 100, 2_000, () => 0.999)).toBe(1_998);
    expect(backoffDelay(3, 100, 2_000, () => 0)).toBe(0);
  });
});
