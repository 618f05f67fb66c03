import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../config/config.ts";
import { createLogger, createMemorySink } from "../log/logger.ts";
import { cdnTag } from "./cdn-headers.ts";
import { createCdnPurger } from "./cdn-purge.ts";

// A loopback server stands in for Vercel's REST API and checks what Vercel would check.
const TOKEN = "vercel-token-0123456789abcdef";
const PATH = "/v1/edge-cache/invalidate-by-tags";
interface Received {
  path: string;
  query: Record<string, string>;
  authorization: string | null;
  body: { tags: string[] };
}
const received: Received[] = [];
let answers: number[] = [];
const standIn = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(request) {
    const url = new URL(request.url);
    const body = (await request.json()) as { tags: string[] };
    received.push({
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: request.headers.get("authorization"),
      body,
    });
    if (url.pathname !== PATH || request.headers.get("authorization") !== `Bearer ${TOKEN}`)
      return Response.json({ error: { code: "forbidden" } }, { status: 403 });
    if (!Array.isArray(body.tags) || body.tags.length < 1 || body.tags.length > 16)
      return Response.json({ error: { code: "bad_request" } }, { status: 400 });
    const status = answers.shift() ?? 200;
    return status === 200 ? Response.json({}) : new Response("unavailable", { status });
  },
});
afterAll(() => standIn.stop(true));

const purgeConfig = (token = TOKEN) =>
  loadConfig({
    NODE_ENV: "test",
    CDN_PURGE_PROVIDER: "vercel",
    VERCEL_API_TOKEN: token,
    VERCEL_PROJECT_ID: "prj_rampart",
    VERCEL_TEAM_ID: "team_1",
    CDN_PURGE_URL: `http://127.0.0.1:${standIn.port}${PATH}`,
  }).cdnPurge;

let capture = createMemorySink();
const purger = (token?: string, consecutiveFailures = 3) =>
  createCdnPurger(purgeConfig(token), createLogger({ sink: capture.sink }), {
    baseDelayMs: 1,
    breaker: { consecutiveFailures, halfOpenAfterMs: 60_000 },
  });

beforeEach(() => {
  received.length = 0;
  answers = [];
  capture = createMemorySink();
});

describe("CDN purge (Vercel)", () => {
  test("posts the tags to invalidate-by-tags with the bearer token, project and team", async () => {
    const result = await purger().purgeTags(["org:org_1", "orgs", "orgs"]);
    expect(result).toEqual({ purged: 2, failed: 0 });
    expect(received).toEqual([
      {
        path: PATH,
        query: { projectIdOrName: "prj_rampart", teamId: "team_1" },
        authorization: `Bearer ${TOKEN}`,
        body: { tags: ["org:org_1", "orgs"] },
      },
    ]);
  });

  test("tags go in batches of at most 16, named as the tag headers name them", async () => {
    const tags = [...Array.from({ length: 39 }, (_, i) => `member:${i}`), "two words"];
    const result = await purger().purgeTags(tags);
    expect(result).toEqual({ purged: 40, failed: 0 });
    expect(received.map((r) => r.body.tags.length)).toEqual([16, 16, 8]);
    expect(received.flatMap((r) => r.body.tags)).toEqual(tags.map(cdnTag));
    expect(received.at(-1)?.body.tags.at(-1)).toMatch(/^h:[0-9a-f]{24}$/);
  });

  test("a 503 is retried and the purge then succeeds", async () => {
    answers = [503];
    expect(await purger().purgeTags(["orgs"])).toEqual({ purged: 1, failed: 0 });
    expect(received.length).toBe(2);
  });

  test("an API that keeps failing: the purge fails, logged and never thrown, and the breaker opens", async () => {
    const cdn = purger(undefined, 3);
    answers = Array.from({ length: 10 }, () => 503);
    expect(await cdn.purgeTags(["orgs"])).toEqual({ purged: 0, failed: 1 });
    expect(received.length).toBe(3);
    // The breaker is open now: the next purge fails fast, without calling the API.
    expect(await cdn.purgeTags(["org:org_1"])).toEqual({ purged: 0, failed: 1 });
    expect(received.length).toBe(3);
    const messages = capture.records().map((r) => r.msg);
    expect(messages).toContain("circuit opened");
    expect(messages.filter((m) => m === "cdn purge failed").length).toBe(2);
  });

  test("a refused token is logged once, not retried, and the token never reaches the logs", async () => {
    const wrong = "wrong-token-that-must-stay-secret";
    expect(await purger(wrong).purgeTags(["orgs"])).toEqual({ purged: 0, failed: 1 });
    expect(received.length).toBe(1);
    const logged = capture.lines.join("\n");
    expect(logged).toContain("cdn purge refused");
    expect(logged).toContain("403");
    expect(logged).not.toContain(wrong);
    expect(logged).not.toContain(TOKEN);
  });

  test("an unreachable API is a failed purge, not an error, and the token is not logged", async () => {
    const config = { ...purgeConfig(), url: "http://127.0.0.1:9/v1/edge-cache/invalidate-by-tags" };
    const cdn = createCdnPurger(config, createLogger({ sink: capture.sink }), { baseDelayMs: 1, retries: 0 });
    expect(await cdn.purgeTags(["orgs"])).toEqual({ purged: 0, failed: 1 });
    expect(capture.lines.join("\n")).not.toContain(TOKEN);
  });
});

describe("CDN purge configuration", () => {
  test("none by default: purging does nothing", async () => {
    const config = loadConfig({ NODE_ENV: "test" }).cdnPurge;
    expect(config).toEqual({ provider: "none" });
    expect(await createCdnPurger(config, createLogger({ sink: () => {} })).purgeTags(["orgs"])).toEqual({
      purged: 0,
      failed: 0,
    });
  });

  test("vercel needs its token and project; the URL defaults to Vercel's API and is https in production", () => {
    const vercel = { NODE_ENV: "test", CDN_PURGE_PROVIDER: "vercel", VERCEL_PROJECT_ID: "prj_1" };
    expect(() => loadConfig(vercel)).toThrow("VERCEL_API_TOKEN must be set");
    expect(loadConfig({ ...vercel, VERCEL_API_TOKEN: "t" }).cdnPurge).toEqual({
      provider: "vercel",
      token: "t",
      projectId: "prj_1",
      teamId: undefined,
      url: "https://api.vercel.com/v1/edge-cache/invalidate-by-tags",
    });
    expect(() => loadConfig({ VERCEL_API_TOKEN: "t" })).toThrow("CDN_PURGE_PROVIDER must be set");
    const production = {
      NODE_ENV: "production",
      DATABASE_URL: "postgres://u@db/app",
      ENCRYPTION_KEYS: `v1:${Buffer.alloc(32, 7).toString("base64")}`,
    };
    expect(() =>
      loadConfig({ ...vercel, ...production, VERCEL_API_TOKEN: "t", CDN_PURGE_URL: "http://cdn.example.com/p" }),
    ).toThrow(ConfigError);
  });
});
