import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { SCHEDULED_JOBS } from "../lib/cron/registry.ts";
import { runScheduledJob, type ScheduledJob } from "../lib/cron/scheduled-job.ts";
import { jobRuns } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import vercelJson from "../vercel.json";
import cron from "./cron.ts";

const CRON_SECRET = "cron-secret-0123456789";

describe("cron triggers", () => {
  let runtime: TestRuntime;
  let app: RampartApp;
  let unconfigured: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ env: { CRON_SECRET } });
    app = buildApp(runtime, [cron]);
    unconfigured = await openTestRuntime();
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await runtime.close();
    await unconfigured.close();
  });

  const trigger = (target: RampartApp, authorization?: string, job = "prune-job-runs") =>
    target.fetch(
      new Request(`http://localhost/cron/${job}`, { headers: authorization === undefined ? {} : { authorization } }),
    );

  test("runs the job when the bearer secret matches", async () => {
    const response = await trigger(app, `Bearer ${CRON_SECRET}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ job: "prune-job-runs", status: "succeeded" });
  });

  test("reads the bearer secret like every other credential, spaces after the scheme included", async () => {
    expect((await trigger(app, `Bearer  ${CRON_SECRET}`)).status).toBe(200);
  });

  test("refuses a missing or wrong secret with 401", async () => {
    for (const authorization of [undefined, "Bearer wrong", CRON_SECRET, `Basic ${CRON_SECRET}`]) {
      const response = await trigger(app, authorization);
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    }
  });

  test("fails closed when CRON_SECRET is not configured", async () => {
    const closed = buildApp(unconfigured, [cron]);
    expect((await trigger(closed, "Bearer ")).status).toBe(401);
    expect((await trigger(closed, "Bearer undefined")).status).toBe(401);
  });

  test("an unknown job is 404", async () => {
    expect((await trigger(app, `Bearer ${CRON_SECRET}`, "no-such-job")).status).toBe(404);
  });
});

describe.each(DATABASE_BACKENDS)("scheduled jobs on %s", (backend) => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test("two triggers of the same slot at once do the work exactly once", async () => {
    let runs = 0;
    const job: ScheduledJob = {
      name: `count-${backend}`,
      schedule: "* * * * *",
      async run() {
        runs++;
        await Bun.sleep(20);
        return "counted";
      },
    };
    const at = new Date("2026-11-25T10:00:30Z");
    const outcomes = await Promise.all([
      runScheduledJob(runtime, job, at),
      runScheduledJob(runtime, job, at),
      runScheduledJob(runtime, job, at),
    ]);
    expect(runs).toBe(1);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["skipped", "skipped", "succeeded"]);
    const [row] = await runtime.db.primary.select().from(jobRuns).where(eq(jobRuns.job, job.name));
    expect(row).toMatchObject({ slot: "2026-11-25T10:00", status: "succeeded", detail: "counted" });
  });

  test("a failing job is recorded as failed and rethrown", async () => {
    const job: ScheduledJob = {
      name: `fail-${backend}`,
      schedule: "* * * * *",
      run: () => Promise.reject(new Error("boom")),
    };
    await expect(runScheduledJob(runtime, job)).rejects.toThrow("boom");
    const [row] = await runtime.db.primary.select().from(jobRuns).where(eq(jobRuns.job, job.name));
    expect(row).toMatchObject({ status: "failed", detail: "boom" });
  });

  test("prune-job-runs deletes rows older than the retention and keeps recent ones", async () => {
    const old = new Date(Date.now() - 40 * 86_400_000);
    await runtime.db.primary.insert(jobRuns).values([
      { job: "old", slot: "a", startedAt: old },
      { job: "old", slot: "b", startedAt: old },
      { job: "recent", slot: "a" },
    ]);
    const prune = SCHEDULED_JOBS.find((j) => j.name === "prune-job-runs");
    if (prune === undefined) throw new Error("prune-job-runs is not registered");
    const outcome = await runScheduledJob(runtime, prune, new Date("2026-01-01T03:17:00Z"));
    expect(outcome).toMatchObject({ status: "succeeded", detail: "deleted 2 job runs older than 30 days" });
    const left = await runtime.db.primary.select().from(jobRuns);
    expect(left.some((r) => r.job === "old")).toBe(false);
    expect(left.some((r) => r.job === "recent")).toBe(true);
  });
});

describe("vercel.json", () => {
  test("declares exactly the registered jobs, on the same schedules", () => {
    const declared = (vercelJson as { crons: { path: string; schedule: string }[] }).crons;
    const expected = SCHEDULED_JOBS.map((job) => ({ path: `/cron/${job.name}`, schedule: job.schedule }));
    expect(declared.sort((a, b) => a.path.localeCompare(b.path))).toEqual(
      expected.sort((a, b) => a.path.localeCompare(b.path)),
    );
  });
});
