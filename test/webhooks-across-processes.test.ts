/**
 * One delivery posted 200 times at once, spread over two server processes that share PostgreSQL and Redis:
 * one inbox row, one handler run, every answer 2xx; and the same with Redis unreachable, since PostgreSQL
 * alone decides what is a duplicate. Runs when TEST_POSTGRES_URL and TEST_REDIS_URL are set.
 */
import { expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import orgs from "../functions/orgs.ts";
import webhookSources from "../functions/webhook-sources.ts";
import { webhookInbox } from "../lib/db/schema/index.ts";
import { buildApp } from "../lib/http/app.ts";
import {
  createScratchDatabase,
  GATEWAY_TOKEN,
  openTestDatabase,
  openTestRuntime,
  TEST_REDIS_URL,
  type TestRuntime,
  upstashGatewayUrl,
} from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { COUNTED_EVENT_TYPE } from "./fixtures/webhook-server.ts";
import { identityClient } from "./identity-client.ts";
import { type SpawnedServers, spawnServers } from "./spawned-servers.ts";
import { startTcpRelay, type TcpRelay } from "./tcp-relay.ts";
import { newDelivery, signedHeaders } from "./webhook-client.ts";
import { createInteropSources, type InteropSource } from "./webhook-interop.ts";

const POSTS = 200;
const SETTLE_WITHIN_MS = 20_000;
const TEST_TIMEOUT_MS = 60_000;

describeWithServers(["postgres", "redis"], "one webhook delivery across two server processes", (hooks) => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let runtime: TestRuntime;
  let redis: TcpRelay;
  let spawned: SpawnedServers;
  let source: InteropSource;

  hooks.beforeAll(async () => {
    scratch = await createScratchDatabase();
    const encryptionKeys = `v1:${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")}`;
    // Migrated once here, so the two processes never race to migrate.
    runtime = await openTestRuntime({
      db: await openTestDatabase("postgres", undefined, scratch.url),
      env: { ENCRYPTION_KEYS: encryptionKeys, TRUST_PROXY: "1" },
    });
    await runtime.db.primary.execute(sql`create table webhook_handler_runs (delivery_id bigint not null)`);
    source = (await createInteropSources(identityClient(runtime, buildApp(runtime, [orgs, webhookSources])))).standard;
    // Redis behind a relay of its own, so this test can make it unreachable without touching anyone else's.
    const redisUrl = new URL(TEST_REDIS_URL ?? "");
    redis = startTcpRelay({ hostname: redisUrl.hostname, port: Number(redisUrl.port) });
    spawned = await spawnServers(
      "test/fixtures/webhook-server.ts",
      2,
      {
        NODE_ENV: "test",
        LOG_LEVEL: "error",
        TRUST_PROXY: "1",
        DATABASE_URL: scratch.url,
        DATABASE_DRIVER: "postgres",
        ENCRYPTION_KEYS: encryptionKeys,
        UPSTASH_REDIS_REST_URL: await upstashGatewayUrl(`redis://127.0.0.1:${redis.port}`),
        UPSTASH_REDIS_REST_TOKEN: GATEWAY_TOKEN,
      },
      30_000,
    );
  }, TEST_TIMEOUT_MS);

  hooks.afterAll(async () => {
    await spawned?.stop();
    redis?.close();
    await runtime?.close();
    await scratch?.drop();
  }, TEST_TIMEOUT_MS);

  let addresses = 0;
  const postEverywhere = async () => {
    const delivery = newDelivery(COUNTED_EVENT_TYPE);
    const headers = signedHeaders("standard", [source.secret], delivery, Date.now());
    const answers = await Promise.all(
      Array.from({ length: POSTS }, async (_, i) => {
        const server = spawned.servers[i % spawned.servers.length];
        addresses += 1;
        const response = await fetch(`${server?.url}/v1/webhooks/${source.id}`, {
          method: "POST",
          // Each post from an address of its own: the point is the duplicate, not the rate limit.
          headers: {
            "content-type": "application/json",
            "x-forwarded-for": `198.51.${(addresses >> 8) & 255}.${addresses & 255}`,
            ...headers,
          },
          body: delivery.body,
          signal: AbortSignal.timeout(SETTLE_WITHIN_MS),
        });
        return { status: response.status, body: (await response.json()) as { duplicate?: boolean } };
      }),
    );
    return { delivery, answers };
  };

  /** The delivery's rows once its handler has finished, within SETTLE_WITHIN_MS. */
  const settledRows = async (externalId: string) => {
    const deadline = performance.now() + SETTLE_WITHIN_MS;
    while (performance.now() < deadline) {
      const rows = await runtime.db.primary.select().from(webhookInbox).where(eq(webhookInbox.externalId, externalId));
      if (rows.length > 0 && rows.every((row) => row.status === "done")) return rows;
      await Bun.sleep(50);
    }
    throw new Error(`delivery ${externalId} was not processed within ${SETTLE_WITHIN_MS} ms`);
  };
  const runsOf = async (deliveryId: number) => {
    const [row] = await runtime.db.primary
      .select({ runs: sql<number>`count(*)::int` })
      .from(sql`webhook_handler_runs`)
      .where(sql`delivery_id = ${deliveryId}`);
    return row?.runs;
  };

  const expectOnce = async () => {
    const { delivery, answers } = await postEverywhere();
    expect(answers.map((answer) => answer.status)).toEqual(Array<number>(POSTS).fill(200));
    expect(answers.filter((answer) => answer.body.duplicate === false).length).toBe(1);
    const rows = await settledRows(delivery.id);
    expect(rows.length).toBe(1);
    expect(await runsOf(rows[0]?.id as number)).toBe(1);
  };

  test("200 concurrent posts: every answer 200, one inbox row, one handler run", expectOnce, TEST_TIMEOUT_MS);

  test(
    "with Redis unreachable: still every answer 200, one inbox row, one handler run",
    async () => {
      redis.kill();
      try {
        await expectOnce();
      } finally {
        redis.revive();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
