/**
 * Fallback load generator when wrk is not installed: autocannon with the same requests as browser.lua
 * (the URL's path; the lines of BENCH_AUTHORIZATION_FILE as Authorization headers, in turn, when set),
 * printing the same BENCH_RESULT line. Usage: node autocannon.mjs <url> <connections> <seconds> [rate].
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
// The headers browser.lua sends too (wrk's script keeps its own copy: Lua reads no JSON).
import browserHeaders from "./browser-headers.json" with { type: "json" };

const [url, connections, seconds, rate] = process.argv.slice(2);
const { pathname } = new URL(url);
const file = process.env.BENCH_AUTHORIZATION_FILE;
const authorizations = file ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
// One shared turn over the credentials: a prebuilt request per credential and connection costs the
// generator more than the server.
let turn = 0;
const withCredential = (request) => {
  if (authorizations.length === 0) return request;
  const authorization = authorizations[turn++ % authorizations.length];
  return { ...request, headers: { ...request.headers, authorization } };
};
const requests = [
  { method: "GET", path: pathname, headers: browserHeaders, setupRequest: withCredential },
  {
    method: "GET",
    path: pathname,
    headers: { ...browserHeaders, "x-request-id": "web-0002-9e3779b1" },
    setupRequest: withCredential,
  },
];
const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  ...(rate ? { overallRate: Number(rate) } : {}),
  requests,
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
