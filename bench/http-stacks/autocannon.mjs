/**
 * Fallback load generator when wrk is not installed: autocannon with the same requests as browser.lua
 * (the URL's path; BENCH_AUTHORIZATION as the Authorization header when set), printing the same
 * BENCH_RESULT line. Usage: node autocannon.mjs <url> <connections> <seconds>.
 */
import autocannon from "autocannon";
// The headers browser.lua sends too (wrk's script keeps its own copy: Lua reads no JSON).
import browserHeaders from "./browser-headers.json" with { type: "json" };

const [url, connections, seconds] = process.argv.slice(2);
const { pathname } = new URL(url);
const authorization = process.env.BENCH_AUTHORIZATION;
const browser = { ...browserHeaders, ...(authorization ? { authorization } : {}) };
const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [
    { method: "GET", path: pathname, headers: browser },
    { method: "GET", path: pathname, headers: { ...browser, "x-request-id": "web-0002-9e3779b1" } },
  ],
});
const summary = {
  requests: result.requests.total,
  durationUs: Math.round(result.duration * 1e6),
  p50Us: Math.round(result.latency.p50 * 1000),
  p99Us: Math.round(result.latency.p99 * 1000),
  connectErrors: result.errors,
  readErrors: 0,
  writeErrors: 0,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
};
process.stdout.write(`BENCH_RESULT ${JSON.stringify(summary)}\n`);
