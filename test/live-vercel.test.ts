/**
 * Server-Sent Events through the Vercel build: the bundled `live` function, loaded as Vercel's Bun runtime
 * loads it, streams an organization's events from a PostgreSQL that another instance writes to.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import keys from "../functions/keys.ts";
import orgs from "../functions/orgs.ts";
import { buildApp } from "../lib/http/app.ts";
import { VERCEL_OUTPUT_DIR } from "../tools/build-vercel.ts";
import { createScratchDatabase, openTestDatabase, openTestRuntime, type TestRuntime } from "./backends.ts";
import { builtVercelOutput } from "./built-bundles.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { identityClient } from "./identity-client.ts";
import { sseReader } from "./live-client.ts";

// Building every function (shared with the build tests) takes seconds, tens on a loaded machine.
const SETUP_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 30_000;

type VercelHandler = (request: Request) => Promise<Response>;

describeWithServers(["postgres"], "live events through the Vercel build", ({ beforeAll, afterAll }) => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let runtime: TestRuntime;
  let handler: VercelHandler;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    runtime = await openTestRuntime({
      db: await openTestDatabase("postgres", undefined, scratch.url),
      env: { TRUST_PROXY: "1" },
    });
    expect((await builtVercelOutput()).exitCode).toBe(0);
    // The function reads its configuration from the environment when it loads, as it does on Vercel.
    const saved = { ...process.env };
    Object.assign(process.env, {
      NODE_ENV: "test",
      DATABASE_URL: scratch.url,
      DATABASE_DRIVER: "postgres",
      TRUST_PROXY: "1",
      LOG_LEVEL: "error",
    });
    try {
      const bundle = (await import(join(VERCEL_OUTPUT_DIR, "functions", "live.func", "index.mjs"))) as {
        GET: VercelHandler;
      };
      handler = bundle.GET;
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await runtime?.close();
    await scratch?.drop();
  });

  test(
    "streams an event another instance commits to a member's bearer request",
    async () => {
      const client = identityClient(runtime, buildApp(runtime, [orgs, keys]));
      const owner = await client.createUser();
      const orgId = await client.createOrg(owner);
      const response = await handler(
        new Request(`https://api.example.com/v1/orgs/${orgId}/events`, {
          headers: { authorization: `Bearer ${owner.token}`, "x-forwarded-for": "10.4.0.1" },
        }),
      );
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      const events = sseReader(response);
      const key = await client.createKey(owner, orgId, { name: "through-vercel" });
      const [frame] = await events.next(1);
      expect(frame?.event).toBe("api_key.created");
      expect(JSON.parse(frame?.data ?? "{}").data.keyId).toBe(key.id);
      await events.cancel();
    },
    TEST_TIMEOUT_MS,
  );
});
