/** `bun test` without the servers names every skipped test and says once why they are skipped and how to run them. */
import { expect, test } from "bun:test";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
// A nested `bun test` loads the preload and a test file: seconds on a loaded machine.
const NESTED_RUN_TIMEOUT_MS = 30_000;

test(
  "without TEST_POSTGRES_URL and TEST_REDIS_URL, the skipped tests have names and one notice says how to run them",
  async () => {
    const run = Bun.spawn(["bun", "test", "tools/neon-ws-proxy.test.ts", "test/store.integration.test.ts"], {
      cwd: ROOT,
      // Chromium, the Prometheus parser and PostgreSQL's programs configured, so the notice is the servers' alone.
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        TEST_CHROMIUM: "/usr/bin/chromium",
        TEST_PROMETHEUS_PYTHON: "/usr/bin/python3",
        TEST_POSTGRES_BIN: "/usr/lib/postgresql/15/bin",
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const output = (await new Response(run.stdout).text()) + (await new Response(run.stderr).text());
    expect(await run.exited).toBe(0);
    const skipped = output.split("\n").filter((line) => line.startsWith("(skip)"));
    expect(skipped).toContain("(skip) Neon WebSocket proxy > runs a plain query");
    expect(skipped.filter((line) => line.includes("(unnamed)"))).toEqual([]);
    const notice =
      "TEST_POSTGRES_URL and TEST_REDIS_URL are not set: the tests that need a real PostgreSQL and Redis are skipped.";
    expect(output.split(notice)).toHaveLength(2);
    expect(output).toContain(`To run them, first: eval "$(.ci/start-services | sed 's/^/export /')"`);
  },
  NESTED_RUN_TIMEOUT_MS,
);
