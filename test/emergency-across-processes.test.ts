/**
 * Emergency mode switched on one server process reaches another within the settings poll interval:
 * two processes share settings only through Redis. Runs when TEST_REDIS_URL is set.
 */
import { expect, test } from "bun:test";
import { GATEWAY_TOKEN, upstashGatewayUrl } from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { type SpawnedServer, type SpawnedServers, spawnServers } from "./spawned-servers.ts";

const ADMIN_TOKEN = "emergency-test-admin-token-0123456789abcdef";
const POLL_MS = 200;
const LIMIT = 8;
const DIVISOR = 4;

const octet = () => 1 + Math.floor(Math.random() * 254);
// Real Redis keeps counts between runs: every burst comes from an address of its own.
const freshClient = () => `198.18.${octet()}.${octet()}`;

async function statusesOf(server: SpawnedServer, client: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`${server.url}/eight`, { headers: { "x-forwarded-for": client } });
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  return statuses;
}

function setEmergency(server: SpawnedServer, enabled: boolean): Promise<Response> {
  return fetch(`${server.url}/admin/emergency`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      "content-type": "application/json",
      "x-forwarded-for": "100.64.0.1",
    },
    body: JSON.stringify({ enabled }),
  });
}

describeWithServers(["redis"], "emergency mode across two server processes on one Redis", ({ beforeAll, afterAll }) => {
  let spawned: SpawnedServers;
  let switcher: SpawnedServer;
  let other: SpawnedServer;

  beforeAll(async () => {
    spawned = await spawnServers(
      "test/fixtures/shared-settings-server.ts",
      2,
      {
        NODE_ENV: "test",
        LOG_LEVEL: "warn",
        TRUST_PROXY: "1",
        ADMIN_TOKEN,
        SETTINGS_POLL_MS: String(POLL_MS),
        UPSTASH_REDIS_REST_URL: await upstashGatewayUrl(),
        UPSTASH_REDIS_REST_TOKEN: GATEWAY_TOKEN,
      },
      30_000,
    );
    [switcher, other] = spawned.servers as [SpawnedServer, SpawnedServer];
    expect((await setEmergency(switcher, false)).status).toBe(200);
    await Bun.sleep(POLL_MS * 3);
  }, 40_000);

  afterAll(async () => {
    await setEmergency(switcher, false);
    await spawned.stop();
  }, 30_000);

  test("switched on through one process's admin endpoint, the other " +
    "divides its limits within the poll interval", async () => {
    expect(await statusesOf(other, freshClient(), LIMIT + 1)).toEqual([...Array<number>(LIMIT).fill(200), 429]);

    const switchedAt = performance.now();
    expect((await setEmergency(switcher, true)).status).toBe(200);
    let reachedAfterMs: number | undefined;
    while (performance.now() - switchedAt < POLL_MS * 10) {
      const statuses = await statusesOf(other, freshClient(), LIMIT / DIVISOR + 1);
      if (statuses.at(-1) === 429) {
        reachedAfterMs = performance.now() - switchedAt;
        expect(statuses).toEqual([...Array<number>(LIMIT / DIVISOR).fill(200), 429]);
        break;
      }
    }
    expect(reachedAfterMs).toBeDefined();
    // One poll interval, plus the burst that observed it, on a loaded two-core machine.
    expect(reachedAfterMs as number).toBeLessThan(POLL_MS * 2 + 500);

    expect((await setEmergency(switcher, false)).status).toBe(200);
    await Bun.sleep(POLL_MS * 3);
    expect(await statusesOf(other, freshClient(), LIMIT)).toEqual(Array<number>(LIMIT).fill(200));
  }, 30_000);
});
