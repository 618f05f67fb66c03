/**
 * The open model shows overload that a closed model hides: against a server that answers one request at a
 * time, 50 ms each (20 a second), arrivals at 40 a second pile up, and their latency counts the wait.
 */
import { afterAll, expect, test } from "bun:test";
import { summarise } from "./latency-summary.ts";
import { type LoadRoute, runClosed, runOpen } from "./load-generator.ts";

// A stand-in target with a fixed capacity: each answer waits for the one before it, then 50 ms.
let queue = Promise.resolve();
let waiting = 0;
let mostWaiting = 0;
const server = Bun.serve({
  port: 0,
  fetch: () => {
    mostWaiting = Math.max(mostWaiting, ++waiting);
    const answered = queue.then(() => Bun.sleep(50));
    queue = answered;
    return answered.then(() => {
      waiting--;
      return new Response("ok");
    });
  },
});
afterAll(() => server.stop(true));

const route: LoadRoute = { name: "serial", next: () => ({ url: server.url.href, init: {} }) };

test("arrivals keep coming while the server falls behind: latency and rate show the overload", async () => {
  const closed = await runClosed([{ route, weight: 1 }], 1, 1_000);
  const closedSummary = summarise(closed.tallies.get("serial") ?? expect.unreachable(), closed.seconds);
  mostWaiting = 0;
  const open = await runOpen([{ route, weight: 1 }], 40, 2_000);
  const openSummary = summarise(open.tallies.get("serial") ?? expect.unreachable(), open.seconds);
  expect(openSummary.requests).toBe(80);
  // Arrivals kept coming while earlier requests waited: a closed loop would never have more than one waiting.
  expect(mostWaiting).toBeGreaterThan(10);
  // 80 arrivals over 2 s, served 20 a second: the last waits about 2 s, and fewer than 40 a second are achieved.
  expect(openSummary.p99Ms).toBeGreaterThan(1_000);
  expect(openSummary.p99Ms).toBeGreaterThan(closedSummary.p50Ms * 10);
  expect(openSummary.rps).toBeLessThan(40 * 0.9);
}, 30_000);
