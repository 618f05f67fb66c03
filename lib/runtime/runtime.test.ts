import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { withCountedQueries } from "../../test/counting-db.ts";
import { loadConfig } from "../config/config.ts";
import { deriveRuntime, openRuntime } from "./runtime.ts";

const SOME_USER = "00000000-0000-4000-8000-000000000001";

describe("runtime services", () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: "pglite" });
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  test("each service is made once per runtime", () => {
    expect(runtime.services.identity).toBe(runtime.services.identity);
    expect(runtime.services.operators).toBe(runtime.services.operators);
    expect(runtime.services.ipBlocker).toBe(runtime.services.ipBlocker);
  });

  test("a derived runtime's services read its database, not the original's", async () => {
    const counted = withCountedQueries(runtime);
    expect(await counted.runtime.services.operators.isOperator(SOME_USER)).toBe(false);
    expect(counted.queries()).toBe(1);
  });

  test("a runtime derived with no changes is another instance, with services of its own", () => {
    const elsewhere = deriveRuntime(runtime, {});
    expect(elsewhere.services.identity).not.toBe(runtime.services.identity);
    expect(elsewhere.services.operators).not.toBe(runtime.services.operators);
    expect(elsewhere.services.ipBlocker).not.toBe(runtime.services.ipBlocker);
  });
});

describe("opening a runtime", () => {
  const replica = {
    NODE_ENV: "test",
    DATABASE_URL: "postgres://127.0.0.1:1/primary",
    DATABASE_READ_URL: "postgres://127.0.0.1:1/replica",
  };

  test("refuses a read-your-writes window no longer than the replica lag allowed, before connecting", async () => {
    const config = loadConfig({ ...replica, DATABASE_READ_MAX_LAG_MS: "10000" });
    await expect(openRuntime(config)).rejects.toThrow(
      "DATABASE_READ_AFTER_WRITE_MS (5000) must be longer than DATABASE_READ_MAX_LAG_MS (10000)",
    );
  });
});
