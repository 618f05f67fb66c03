/** The Neon serverless driver's Pool through the local WebSocket proxy to a real PostgreSQL (TEST_POSTGRES_URL). */
import { expect, test } from "bun:test";
import { Pool } from "@neondatabase/serverless";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";
import { configureNeonForLocalProxy, type NeonWsProxy, startNeonWsProxy } from "./neon-ws-proxy.ts";

const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL;

describeWithServers(["postgres"], "Neon WebSocket proxy", ({ beforeAll, afterAll }) => {
  let proxy: NeonWsProxy;
  let pool: Pool;

  beforeAll(() => {
    proxy = startNeonWsProxy({ port: 0 });
    configureNeonForLocalProxy(proxy.port);
    pool = new Pool({ connectionString: TEST_POSTGRES_URL, max: 2 });
  }, BACKEND_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await pool.end();
    await proxy.stop();
  });

  test("runs a plain query", async () => {
    const { rows } = await pool.query("select 1 as one");
    expect(rows).toEqual([{ one: 1 }]);
  });

  test("runs a parameterized query", async () => {
    const { rows } = await pool.query("select $1::int + $2::int as sum, $3::text as label", [2, 3, "naïve ✓"]);
    expect(rows).toEqual([{ sum: 5, label: "naïve ✓" }]);
  });

  test("carries a result larger than one WebSocket frame", async () => {
    const { rows } = await pool.query("select repeat('x', 3000000) as big");
    expect((rows[0] as { big: string }).big.length).toBe(3_000_000);
  });

  test("keeps an interactive transaction on one connection, and ROLLBACK undoes it", async () => {
    const client = await pool.connect();
    try {
      const table = `proxy_probe_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
      await client.query(`create temp table ${table} (id int primary key)`);
      await client.query("begin");
      await client.query(`insert into ${table} (id) values ($1)`, [1]);
      const inside = await client.query(`select count(*)::int as n from ${table}`);
      expect(inside.rows).toEqual([{ n: 1 }]);
      await client.query("rollback");
      const after = await client.query(`select count(*)::int as n from ${table}`);
      expect(after.rows).toEqual([{ n: 0 }]);
    } finally {
      client.release();
    }
  });

  test("refuses targets that are not loopback, and requests without a target", async () => {
    const base = `http://127.0.0.1:${proxy.port}/v2`;
    expect((await fetch(`${base}?address=10.0.0.1:5432`)).status).toBe(403);
    expect((await fetch(`${base}?address=example.com:5432`)).status).toBe(403);
    expect((await fetch(base)).status).toBe(400);
    expect((await fetch(`${base}?address=127.0.0.1:99999`)).status).toBe(400);
    // A loopback target without a WebSocket upgrade is not an error of the target.
    expect((await fetch(`${base}?address=127.0.0.1:5432`)).status).toBe(426);
  });
});
