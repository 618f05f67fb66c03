import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import admin from "../../functions/admin.ts";
import { createAuthRoutes } from "../../functions/auth.ts";
import { FAST_HASHING, freshEmail, freshIp, PASSWORD } from "../../test/auth-client.ts";
import { openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { freePort } from "../../test/free-port.ts";
import { ADMIN_TOKEN } from "../../test/identity-client.ts";
import { HUMAN_VERIFICATION_HEADER } from "../guards/human-verification.ts";
import { buildApp, type RampartApp } from "./app.ts";

const SETUP_MS = 30_000;
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
// The stand-in answers 500 to this token, so the request also writes a warning of its own.
const FAILING_TOKEN = "provider-fails";

// A stand-in for the siteverify API: the outbound call a request makes while emergency mode is on.
const received: { traceparent: string | null; tracestate: string | null }[] = [];
const provider = Bun.serve({
  hostname: "127.0.0.1",
  port: freePort(),
  async fetch(request) {
    received.push({ traceparent: request.headers.get("traceparent"), tracestate: request.headers.get("tracestate") });
    const fields = new URLSearchParams(await request.text());
    if (fields.get("response") === FAILING_TOKEN) return new Response("upstream trouble", { status: 500 });
    return Response.json({ success: true, "error-codes": [] });
  },
});

let runtime: TestRuntime;
let app: RampartApp;
beforeAll(async () => {
  runtime = await openTestRuntime({
    env: {
      TRUST_PROXY: "1",
      ADMIN_TOKEN,
      HUMAN_VERIFICATION_PROVIDER: "turnstile",
      HUMAN_VERIFICATION_SECRET: "0x4AAAAAAA-stand-in-secret-key-for-tests",
      HUMAN_VERIFICATION_URL: `http://127.0.0.1:${provider.port}/siteverify`,
    },
  });
  app = buildApp(runtime, [createAuthRoutes({ passwordHashing: FAST_HASHING }), admin]);
  const emergency = await app.fetch(
    new Request("http://localhost/admin/emergency", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ enabled: true }),
    }),
  );
  expect(emergency.status).toBe(200);
}, SETUP_MS);
afterAll(async () => {
  provider.stop(true);
  await runtime.close();
});

/** Signs up with `headers`, returning the answer and the log lines written meanwhile. */
async function signUp(token: string, headers: Record<string, string>) {
  const before = runtime.logLines.length;
  received.length = 0;
  const response = await app.fetch(
    new Request("http://localhost/v1/auth/signup", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-forwarded-for": freshIp(),
        [HUMAN_VERIFICATION_HEADER]: token,
        ...headers,
      },
      body: JSON.stringify({ email: freshEmail(), password: PASSWORD }),
    }),
  );
  await response.arrayBuffer();
  const lines = runtime.logLines.slice(before);
  return { response, lines, records: lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe("W3C trace context", () => {
  test(
    "a valid traceparent's trace id is on every log line of the request, and the outbound call continues " +
      "the trace with our own parent id and the tracestate unchanged",
    async () => {
      const tracestate = "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7";
      const { response, records } = await signUp(FAILING_TOKEN, {
        traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`,
        tracestate,
      });
      expect(response.status).toBe(503);
      expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(["human verification unavailable", "request"]));
      for (const record of records) expect(record.traceId).toBe(TRACE_ID);
      const access = records.find((r) => r.msg === "request");
      expect(access?.requestId).toBe(response.headers.get("x-request-id") as string);

      expect(received).toHaveLength(1);
      const [version, traceId, parentId, flags] = (received[0]?.traceparent ?? "").split("-");
      expect([version, traceId, flags]).toEqual(["00", TRACE_ID, "01"]);
      expect(parentId).toMatch(/^[0-9a-f]{16}$/);
      expect(parentId).not.toBe(PARENT_ID);
      expect(received[0]?.tracestate).toBe(tracestate);
    },
    SETUP_MS,
  );

  test(
    "an invalid traceparent starts a new trace, and neither it nor its tracestate is echoed anywhere",
    async () => {
      const invalid = `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`;
      const { response, lines, records } = await signUp("a-valid-token", { traceparent: invalid, tracestate: "k=v" });
      expect(response.status).toBe(201);
      const traceId = records.find((r) => r.msg === "request")?.traceId as string;
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(traceId).not.toBe("0".repeat(32));
      expect(traceId).not.toBe(TRACE_ID);
      expect(received).toHaveLength(1);
      expect(received[0]?.traceparent?.split("-")[1]).toBe(traceId);
      expect(received[0]?.tracestate).toBeNull();
      expect(lines.join("\n")).not.toContain(invalid);
      expect([...response.headers.keys()].filter((name) => name.startsWith("trace"))).toEqual([]);
    },
    SETUP_MS,
  );

  test(
    "two requests without a traceparent get different trace ids",
    async () => {
      const first = await signUp("a-valid-token", {});
      const second = await signUp("a-valid-token", {});
      const traceOf = (records: Record<string, unknown>[]) => records.find((r) => r.msg === "request")?.traceId;
      expect(traceOf(first.records)).toMatch(/^[0-9a-f]{32}$/);
      expect(traceOf(second.records)).toMatch(/^[0-9a-f]{32}$/);
      expect(traceOf(first.records)).not.toBe(traceOf(second.records));
    },
    SETUP_MS,
  );
});
