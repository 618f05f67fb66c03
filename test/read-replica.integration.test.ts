/**
 * Read routing against a real streaming replica of the test server: lag is induced by pausing its replay, the caller
 * that wrote reads its write from any instance, and a stopped replica ends behind its own breaker.
 */
import { afterAll, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import keys from "../functions/keys.ts";
import orgs from "../functions/orgs.ts";
import type { Database } from "../lib/db/database.ts";
import { openNeon } from "../lib/db/neon.ts";
import { openPostgres } from "../lib/db/postgres.ts";
import { DEFAULT_READ_ROUTING, type ReadRoutingOptions } from "../lib/db/read-replica.ts";
import { jobRuns } from "../lib/db/schema/index.ts";
import { buildApp } from "../lib/http/app.ts";
import { createLogger, type LogFields } from "../lib/log/logger.ts";
import { BACKEND_HOOK_TIMEOUT_MS, createScratchDatabase, neonProxyAddress, openTestRuntime } from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";
import { identityClient, type TestUser } from "./identity-client.ts";
import { type StreamingReplica, startStreamingReplica } from "./streaming-replica.ts";
import { createTestClock } from "./test-clock.ts";

// pg_basebackup of the test server and a standby's start: seconds on a loaded machine.
const REPLICA_TIMEOUT_MS = 120_000;
const READ_AFTER_WRITE_MS = 5_000;

describeWithServers(["postgres", "redis", "postgres-programs"], "reads on a streaming replica", (hooks) => {
  let replica: StreamingReplica;
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let databaseName: string;
  const opened: Database[] = [];
  const clock = createTestClock();

  hooks.beforeAll(async () => {
    scratch = await createScratchDatabase();
    databaseName = new URL(scratch.url).pathname.slice(1);
    const setup = openPostgres({ url: scratch.url, readUrl: undefined }, createLogger({ sink: () => {} }));
    await setup.migrate();
    await setup.close();
    replica = await startStreamingReplica();
  }, REPLICA_TIMEOUT_MS);
  hooks.afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
    await replica?.remove();
    await scratch?.drop();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => clock.reset());

  const open = async (driver: "neon" | "postgres", routing: Partial<ReadRoutingOptions>, logLines?: string[]) => {
    const logger = createLogger({ sink: logLines === undefined ? () => {} : (line) => logLines.push(line) });
    const options = {
      url: scratch.url,
      readUrl: replica.urlOf(databaseName),
      readRouting: { now: clock.now, ...routing },
    };
    const db =
      driver === "neon"
        ? openNeon({ ...options, wsProxy: await neonProxyAddress() }, logger)
        : openPostgres(options, logger);
    opened.push(db);
    return db;
  };
  const slots = (db: Database) =>
    db.read((r) =>
      r.select({ slot: jobRuns.slot }).from(jobRuns).where(eq(jobRuns.job, "replica")).orderBy(jobRuns.slot),
    );
  const messagesOf = (lines: string[]) => lines.map((line) => JSON.parse(line) as LogFields);

  for (const driver of ["postgres", "neon"] as const) {
    test(
      `${driver}: reads stay on the replica while its lag is under the limit and move to the primary past it`,
      async () => {
        const patient: string[] = [];
        const strict: string[] = [];
        const lenient = await open(driver, { maxLagMs: 600_000 }, patient);
        // 0 ms: any replay lag at all is too much, so the test needs no wall-clock wait to pass a limit.
        const exact = await open(driver, { maxLagMs: 0 }, strict);
        const { primary } = lenient;
        await primary.delete(jobRuns).where(eq(jobRuns.job, "replica"));
        await primary.insert(jobRuns).values({ job: "replica", slot: "1-before-pause" });
        await replica.catchUp();
        expect(await slots(lenient)).toEqual([{ slot: "1-before-pause" }]);

        await replica.admin`select pg_wal_replay_pause()`;
        try {
          await primary.insert(jobRuns).values({ job: "replica", slot: "2-while-paused" });
          await replica.received();
          clock.advance(DEFAULT_READ_ROUTING.lagSampleMs);
          // Under its limit the lenient router answers from the replica, which has not replayed the second row.
          expect(await slots(lenient)).toEqual([{ slot: "1-before-pause" }]);
          expect(await slots(exact)).toEqual([{ slot: "1-before-pause" }, { slot: "2-while-paused" }]);
          const lagging = messagesOf(strict).find((m) => m.msg === "read replica lagging, reading from the primary");
          expect(lagging).toMatchObject({ maxLagMs: 0 });
          expect(lagging?.lagMs).toBeGreaterThanOrEqual(0);
          expect(lagging?.behindBytes).toBeGreaterThan(0);
        } finally {
          await replica.admin`select pg_wal_replay_resume()`;
        }
        await replica.catchUp();
        clock.advance(DEFAULT_READ_ROUTING.lagSampleMs);
        expect(await slots(exact)).toEqual([{ slot: "1-before-pause" }, { slot: "2-while-paused" }]);
        expect(messagesOf(strict).map((m) => m.msg)).toContain("read replica serving reads again");
        expect(messagesOf(patient).filter((m) => m.level === "warn")).toEqual([]);
      },
      REPLICA_TIMEOUT_MS,
    );
  }

  test(
    "a caller's reads follow its write on another instance, and an org's members read a change to it",
    async () => {
      const [clockA, clockB] = [createTestClock(), createTestClock()];
      const env = {
        TRUST_PROXY: "1",
        DATABASE_DRIVER: "postgres",
        DATABASE_URL: scratch.url,
        DATABASE_READ_URL: replica.urlOf(databaseName),
        DATABASE_READ_AFTER_WRITE_MS: String(READ_AFTER_WRITE_MS),
      };
      // Two instances: each its own pools, store client and clock; only PostgreSQL and Redis are shared.
      const instance = async (now: () => number) => {
        const runtime = await openTestRuntime({
          db: await open("postgres", { maxLagMs: 600_000 }),
          store: "upstash",
          env,
          now,
        });
        return { runtime, app: buildApp(runtime, [orgs, keys]) };
      };
      const a = await instance(clockA.now);
      const b = await instance(clockB.now);
      const onA = identityClient(a.runtime, a.app);
      const onB = identityClient(b.runtime, b.app);
      const get = async (user: TestUser, path: string) =>
        onB.expectJson<Record<string, unknown>>(await onB.call("GET", path, { token: user.token }), 200);

      const [owner, member] = [await onA.createUser(), await onA.createUser()];
      const orgId = await onA.createOrg(owner, "Before");
      await onA.addMember(owner, orgId, member, "member");
      await replica.catchUp();
      await replica.admin`select pg_wal_replay_pause()`;
      try {
        const second = await onA.createOrg(owner, "Second");
        await onA.expectJson(
          await onA.call("PATCH", `/v1/orgs/${orgId}`, { token: owner.token, body: { name: "After" } }),
          200,
        );
        // The writer's list on B holds the org it just made on A, which the paused replica has not replayed.
        const listed = (await get(owner, "/v1/orgs")).orgs as { id: string }[];
        expect(listed.map((org) => org.id).sort()).toEqual([orgId, second].sort());
        // Another member reads the renamed org: the org's mark, set before the write's cache purge, sends it to the
        // primary, so no replica answer is cached under the purged tag.
        expect(await get(member, `/v1/orgs/${orgId}`)).toMatchObject({ name: "After" });
        // Past the window, B reads the list from the replica again: still without the second org.
        clockB.advance(READ_AFTER_WRITE_MS);
        const later = (await get(owner, "/v1/orgs")).orgs as { id: string }[];
        expect(later.map((org) => org.id)).toEqual([orgId]);
      } finally {
        clockB.reset();
        await replica.admin`select pg_wal_replay_resume()`;
      }
    },
    REPLICA_TIMEOUT_MS,
  );

  // Last: it stops the replica.
  test(
    "a stopped replica: reads go on from the primary and its own breaker opens, not the primary's",
    async () => {
      const lines: string[] = [];
      const db = await open("postgres", {}, lines);
      await db.primary.delete(jobRuns).where(eq(jobRuns.job, "replica"));
      await db.primary.insert(jobRuns).values({ job: "replica", slot: "kept" });
      await replica.catchUp();
      expect(await slots(db)).toEqual([{ slot: "kept" }]);

      await replica.stop();
      for (let i = 0; i < 8 && db.replicaBreaker?.state !== "open"; i++) {
        clock.advance(DEFAULT_READ_ROUTING.lagSampleMs);
        expect(await slots(db)).toEqual([{ slot: "kept" }]);
      }
      expect(db.replicaBreaker?.state).toBe("open");
      expect(db.breaker?.state).toBe("closed");
      // While the breaker is open the replica is not dialled: a read is answered by the primary alone.
      clock.advance(DEFAULT_READ_ROUTING.lagSampleMs);
      expect(await slots(db)).toEqual([{ slot: "kept" }]);
      const failures = messagesOf(lines).filter((m) => m.msg === "read replica failed, reading from the primary");
      expect(failures).toHaveLength(1);
    },
    REPLICA_TIMEOUT_MS,
  );
});
