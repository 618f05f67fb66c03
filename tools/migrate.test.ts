/** `bun run db:migrate` as a new user runs it: its failures say what to set. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { createScratchDatabase } from "../test/backends.ts";
import { describeWithServers } from "../test/describe-with-servers.ts";

const ROOT = join(import.meta.dir, "..");
// The migration runs in its own process against a real server: seconds on a loaded machine.
const MIGRATE_TIMEOUT_MS = 60_000;

async function runMigrate(env: Record<string, string>): Promise<{ exitCode: number; stderr: string }> {
  const child = Bun.spawn(["bun", "tools/migrate.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const stderr = await new Response(child.stderr).text();
  return { exitCode: await child.exited, stderr };
}

describeWithServers(["postgres"], "db:migrate against plain PostgreSQL", () => {
  test(
    "with only DATABASE_URL it fails saying to set DATABASE_DRIVER=postgres or NEON_WS_PROXY, and with the " +
      "first it succeeds",
    async () => {
      const scratch = await createScratchDatabase();
      try {
        const neon = await runMigrate({ DATABASE_URL: scratch.url });
        expect(neon.exitCode).toBe(1);
        expect(neon.stderr).toContain("Migration failed");
        expect(neon.stderr).toContain("For plain PostgreSQL, set DATABASE_DRIVER=postgres (TCP), or NEON_WS_PROXY");
        const tcp = await runMigrate({ DATABASE_URL: scratch.url, DATABASE_DRIVER: "postgres" });
        expect(tcp).toEqual({ exitCode: 0, stderr: "" });
      } finally {
        await scratch.drop();
      }
    },
    MIGRATE_TIMEOUT_MS,
  );
});
