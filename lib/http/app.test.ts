import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type } from "arktype";
import { Elysia } from "elysia";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { ERROR_CODES } from "../core/error-codes.ts";
import type { RoutePolicy } from "../core/route-policy.ts";
import { AppError } from "../errors/app-error.ts";
import { deriveRuntime } from "../runtime/runtime.ts";
import { buildApp, type RampartApp } from "./app.ts";
import { policyPlugin } from "./policy-plugin.ts";
import { defineRouteGroup } from "./route-group.ts";

const open: RoutePolicy = { access: "public", rateLimits: [] };

const widgets = defineRouteGroup("widgets", () =>
  new Elysia()
    .use(policyPlugin)
    .get("/widgets/:id", ({ params }) => ({ id: params.id }), { policy: open })
    .post("/widgets", ({ body }) => body, { policy: open, body: type({ name: "string", size: "number.integer" }) })
    .get(
      "/conflict",
      () => {
        throw new AppError("CONFLICT", "Widget exists.", { id: "w1" });
      },
      { policy: open },
    )
    .get(
      "/crash",
      () => {
        throw new Error("relation users does not exist at postgres://admin:hunter2@db/app");
      },
      { policy: open },
    )
    .get(
      "/slow",
      async () => {
        await Bun.sleep(150);
        return { done: true };
      },
      { policy: open },
    ),
);

let runtime: TestRuntime;
let app: RampartApp;

beforeAll(async () => {
  runtime = await openTestRuntime();
  app = buildApp(runtime, [widgets]);
}, BACKEND_HOOK_TIMEOUT_MS);
afterAll(() => runtime.close());

const request = (path: string, init?: RequestInit) => app.fetch(new Request(`http://localhost${path}`, init));
const postJson = (path: string, body: string, headers: Record<string, string> = {}) =>
  request(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });

async function envelope(response: Response) {
  const body = (await response.json()) as { error: Record<string, unknown> };
  return body.error;
}

describe("request ids", () => {
  test("a well-formed X-Request-ID is propagated to the response and the log", async () => {
    const response = await request("/widgets/1", { headers: { "x-request-id": "client-req-0001" } });
    expect(response.headers.get("x-request-id")).toBe("client-req-0001");
    expect(runtime.logLines.at(-1)).toContain('"requestId":"client-req-0001"');
  });

  test("a malformed one is replaced by a generated UUID", async () => {
    const response = await request("/widgets/1", { headers: { "x-request-id": "bad id <script>" } });
    expect(response.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("every status carries it, including 404, 405 and 500", async () => {
    for (const [path, method, status] of [
      ["/nope", "GET", 404],
      ["/widgets/1", "DELETE", 405],
      ["/crash", "GET", 500],
    ] as const) {
      const response = await request(path, { method });
      expect(response.status).toBe(status);
      const error = await envelope(response);
      expect(error.requestId).toBe(response.headers.get("x-request-id") ?? "missing");
    }
  });
});

describe("error envelope", () => {
  test("unknown route is 404 NOT_FOUND with message and ISO timestamp", async () => {
    const error = await envelope(await request("/nope"));
    expect(error.code).toBe("NOT_FOUND");
    expect(error.message).toBe(ERROR_CODES.NOT_FOUND.message);
    expect(new Date(String(error.timestamp)).toISOString()).toBe(String(error.timestamp));
  });

  test("a known path with another method is 405 with an Allow header", async () => {
    const response = await request("/widgets", { method: "PUT" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
    expect((await envelope(response)).code).toBe("METHOD_NOT_ALLOWED");
  });

  test("malformed JSON is 400 INVALID_JSON", async () => {
    const response = await postJson("/widgets", "{not json");
    expect(response.status).toBe(400);
    expect((await envelope(response)).code).toBe("INVALID_JSON");
  });

  test("schema failures are 422 with each failing field in details, without echoing values", async () => {
    const response = await postJson("/widgets", JSON.stringify({ name: 7, size: 1.5 }));
    expect(response.status).toBe(422);
    const error = await envelope(response);
    expect(error.code).toBe("VALIDATION_FAILED");
    const fields = (error.details as { fields: { path: string; message: string }[] }).fields;
    expect(fields.map((f) => f.path).sort()).toEqual(["name", "size"]);
    expect(JSON.stringify(fields)).not.toContain("(was");
  });

  test("a typed AppError keeps its code, status, message and details", async () => {
    const response = await request("/conflict");
    expect(response.status).toBe(409);
    expect(await envelope(response)).toMatchObject({
      code: "CONFLICT",
      message: "Widget exists.",
      details: { id: "w1" },
    });
  });

  test("an unexpected error is 500 INTERNAL with no stack, SQL or secret in the body", async () => {
    const response = await request("/crash");
    const text = await response.text();
    expect(response.status).toBe(500);
    expect(text).toContain('"code":"INTERNAL"');
    for (const leak of ["relation", "postgres://", "hunter2", "at "]) expect(text).not.toContain(leak);
    const logged = runtime.logLines.find((line) => line.includes('"unhandled error"')) ?? "";
    expect(logged).toContain("relation users does not exist");
    expect(logged).not.toContain("hunter2");
  });
});

test("success and error answers carry the same JSON content type", async () => {
  const success = await request("/widgets/w1");
  const failure = await request("/conflict");
  expect(success.status).toBe(200);
  expect(failure.status).toBe(409);
  expect(success.headers.get("content-type")).toBe(failure.headers.get("content-type"));
});

describe("request log", () => {
  test("one JSON line per request with method, route template, status and duration", async () => {
    const before = runtime.logLines.length;
    await request("/widgets/42");
    const lines = runtime.logLines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      msg: "request",
      method: "GET",
      route: "/widgets/:id",
      status: 200,
    });
    expect(typeof lines[0]?.durationMs).toBe("number");
  });

  test("an unmatched path is logged under a fixed route name, with its secret-shaped segments redacted", async () => {
    const jwt =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    const apiKey = `rk_${"A1b2C3d4E5".repeat(4)}xyz123456`;
    const hexToken = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const before = runtime.logLines.length;
    for (const path of [
      `/x/${jwt}`,
      `/keys/${apiKey}/use`,
      `/x/${apiKey.slice(0, 12)}`,
      `/auth/Bearer%20${hexToken.slice(0, 20)}`,
      `/reset/${hexToken}`,
      `/orgs/${id}/nope`,
    ]) {
      expect((await request(path)).status).toBe(404);
    }
    const lines = runtime.logLines.slice(before);
    for (const secret of [jwt.slice(0, 20), apiKey.slice(0, 12), hexToken.slice(0, 20)])
      expect(lines.join("\n")).not.toContain(secret);
    const logged = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .map(({ route, path, status }) => ({ route, path, status }));
    expect(logged).toEqual([
      { route: "(unmatched)", path: "/x/[REDACTED]", status: 404 },
      { route: "(unmatched)", path: "/keys/[REDACTED]/use", status: 404 },
      { route: "(unmatched)", path: "/x/[REDACTED]", status: 404 },
      { route: "(unmatched)", path: "/auth/[REDACTED]", status: 404 },
      { route: "(unmatched)", path: "/reset/[REDACTED]", status: 404 },
      { route: "(unmatched)", path: `/orgs/${id}/nope`, status: 404 },
    ]);
  });
});

describe("draining", () => {
  test("in-flight requests finish, new ones get 503 SHUTTING_DOWN", async () => {
    const local = buildApp(deriveRuntime(runtime, { lifecycle: { shuttingDown: false } }), [widgets]);
    const inFlight = local.fetch(new Request("http://localhost/slow"));
    await Bun.sleep(20);
    const drained = local.drain(2_000);
    const refused = await local.fetch(new Request("http://localhost/widgets/1"));
    expect(refused.status).toBe(503);
    expect((await envelope(refused)).code).toBe("SHUTTING_DOWN");
    expect((await inFlight).status).toBe(200);
    expect(await drained).toEqual({ drained: true, abandoned: 0 });
  });

  test("the deadline bounds the wait and reports what was abandoned", async () => {
    const local = buildApp(deriveRuntime(runtime, { lifecycle: { shuttingDown: false } }), [widgets]);
    const inFlight = local.fetch(new Request("http://localhost/slow"));
    await Bun.sleep(10);
    expect(await local.drain(30)).toEqual({ drained: false, abandoned: 1 });
    await inFlight;
  });
});
