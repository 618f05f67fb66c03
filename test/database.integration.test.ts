/** The same migrations, queries and transactions on every database driver Rampart ships. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BrokenCircuitError } from "cockatiel";
import { eq, sql } from "drizzle-orm";
import { DATABASE_BREAKER, type Database } from "../lib/db/database.ts";
import { openNeon } from "../lib/db/neon.ts";
import { openPostgres } from "../lib/db/postgres.ts";
import { jobRuns } from "../lib/db/schema/index.ts";
import { AppError } from "../lib/errors/app-error.ts";
import { toAppError } from "../lib/http/from-framework.ts";
import { createLogger, createMemorySink } from "../lib/log/logger.ts";
import {
  BACKEND_HOOK_TIMEOUT_MS,
  createScratchDatabase,
  DATABASE_BACKENDS,
  neonProxyAddress,
  openDatabaseBehindRelay,
  openTestDatabase,
} from "./backends.ts";
import { describeWithServers } from "./describe-with-servers.ts";

describe.each(DATABASE_BACKENDS)("database on %s", (backend) => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    await db.migrate();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => db.close());

  test("migrations are idempotent", async () => {
    await db.migrate();
    expect(await db.primary.$count(jobRuns, sql`false`)).toBe(0);
  });

  test("insert, conflict handling and select round-trip typed rows", async () => {
    const first = await db.primary.insert(jobRuns).values({ job: "t", slot: "s1" }).onConflictDoNothing().returning();
    const again = await db.primary.insert(jobRuns).values({ job: "t", slot: "s1" }).onConflictDoNothing().returning();
    expect(first).toHaveLength(1);
    expect(again).toHaveLength(0);
    const [row] = await db.read((r) => r.select().from(jobRuns).where(eq(jobRuns.slot, "s1")));
    expect(row?.status).toBe("running");
    expect(row?.startedAt).toBeInstanceOf(Date);
  });

  test("an interactive transaction that throws is rolled back", async () => {
    const attempt = db.primary.transaction(async (tx) => {
      await tx.insert(jobRuns).values({ job: "t", slot: "rolled-back" });
      const seen = await tx.select().from(jobRuns).where(eq(jobRuns.slot, "rolled-back"));
      expect(seen).toHaveLength(1);
      throw new Error("abort");
    });
    await expect(attempt).rejects.toThrow("abort");
    expect(await db.primary.select().from(jobRuns).where(eq(jobRuns.slot, "rolled-back"))).toHaveLength(0);
  });

  test("ping answers", async () => {
    await db.ping();
  });
});

describeWithServers(["postgres"], "read replica", () => {
  const deadReplica = "postgres://nobody@127.0.0.1:9/none";

  for (const driver of ["neon", "postgres"] as const) {
    test(`${driver}: reads fall back to the primary when the replica fails, logged once`, async () => {
      const scratch = await createScratchDatabase();
      const capture = createMemorySink();
      const logger = createLogger({ sink: capture.sink });
      const options = { url: scratch.url, readUrl: deadReplica };
      const db =
        driver === "neon"
          ? openNeon({ ...options, wsProxy: await neonProxyAddress() }, logger)
          : openPostgres(options, logger);
      try {
        await db.migrate();
        await db.primary.insert(jobRuns).values({ job: "replica", slot: "1" });
        for (let i = 0; i < 3; i++) expect(await db.read((r) => r.select().from(jobRuns))).toHaveLength(1);
        expect(capture.lines.filter((l) => l.includes("read replica failed"))).toHaveLength(1);
      } finally {
        await db.close();
        await scratch.drop();
      }
    });
  }
});

describeWithServers(["postgres"], "database circuit breaker", () => {
  for (const driver of ["neon", "postgres"] as const) {
    test(`${driver}: errors from a healthy server never open it; an unreachable server does, calls then fail fast, ` +
      `and it closes again`, async () => {
      const { db, relay } = await openDatabaseBehindRelay(driver);
      try {
        await db.migrate();
        await db.primary.insert(jobRuns).values({ job: "breaker", slot: "taken" });
        // Unique violations, syntax errors and a failed transaction: answers, not outages.
        for (let i = 0; i < 8; i++) {
          await expect(
            Promise.resolve(db.primary.insert(jobRuns).values({ job: "breaker", slot: "taken" })),
          ).rejects.toThrow();
          await expect(Promise.resolve(db.primary.execute(sql.raw("select from nowhere_at_all")))).rejects.toThrow();
          await expect(db.primary.transaction(async (tx) => tx.execute(sql.raw("select 1/0")))).rejects.toThrow();
          // A refused refresh token, say: our own error thrown inside a transaction.
          await expect(
            db.primary.transaction(async (tx) => {
              await tx.select().from(jobRuns);
              throw new AppError("UNAUTHORIZED");
            }),
          ).rejects.toBeInstanceOf(AppError);
        }
        expect(db.breaker?.state).toBe("closed");
        expect(await db.primary.$count(jobRuns)).toBe(1);

        relay.kill();
        for (let i = 0; i < 8 && db.breaker?.state !== "open"; i++)
          await db.primary.$count(jobRuns).catch(() => undefined);
        expect(db.breaker?.state).toBe("open");
        const started = performance.now();
        const refusal = await Promise.resolve(db.primary.$count(jobRuns)).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect((refusal as Error).cause).toBeInstanceOf(BrokenCircuitError);
        expect(toAppError("UNKNOWN", refusal).appError.status).toBe(503);
        expect(performance.now() - started).toBeLessThan(50);

        relay.revive();
        await Bun.sleep(DATABASE_BREAKER.halfOpenAfterMs ?? 1_000);
        expect(await db.primary.$count(jobRuns)).toBe(1);
        expect(db.breaker?.state).toBe("closed");
      } finally {
        await db.close();
      }
    }, 30_000);
  }
});
