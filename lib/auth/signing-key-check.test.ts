import { expect, test } from "bun:test";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { createAuthRoutes } from "../../functions/auth.ts";
import { FAST_HASHING } from "../../test/auth-client.ts";
import { createScratchDatabase } from "../../test/backends.ts";
import { describeWithServers } from "../../test/describe-with-servers.ts";
import { freePort } from "../../test/free-port.ts";
import { waitUntilLive } from "../../test/spawned-servers.ts";
import { loadConfig } from "../config/config.ts";
import { openPostgres } from "../db/postgres.ts";
import { signingKeys } from "../db/schema/index.ts";
import { createLogger } from "../log/logger.ts";
import { openRuntime } from "../runtime/runtime.ts";
import { createServerlessApp } from "../serverless/serverless-app.ts";
import { MemoryStore } from "../store/memory-store.ts";

const ROOT = join(import.meta.dir, "../..");
const randomKey = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64");
const ORIGINAL = `v1:${randomKey()}`;
// A new key set that dropped the version the signing key was encrypted under.
const REPLACED = `v2:${randomKey()}`;

// Production needs a real PostgreSQL; PGlite is refused there.
describeWithServers(
  ["postgres"],
  "production start-up with a signing key ENCRYPTION_KEYS cannot decrypt",
  ({ beforeAll, afterAll }) => {
    let scratch: { url: string; drop(): Promise<void> };
    let expected: string;

    beforeAll(async () => {
      scratch = await createScratchDatabase();
      const db = openPostgres({ url: scratch.url, readUrl: undefined }, createLogger({ sink: () => {} }));
      await db.migrate();
      const runtime = await openRuntime(loadConfig({ NODE_ENV: "test", ENCRYPTION_KEYS: ORIGINAL }), {
        db,
        store: new MemoryStore(),
      });
      await runtime.services.identity.keyRing.get();
      const [current] = await db.primary
        .select({ kid: signingKeys.kid })
        .from(signingKeys)
        .where(eq(signingKeys.state, "current"));
      expected =
        `ENCRYPTION_KEYS cannot decrypt the current signing key (kid ${current?.kid}): ` +
        "it is encrypted under key version v1, which ENCRYPTION_KEYS does not contain";
      await db.close();
    }, 30_000);
    afterAll(() => scratch.drop());

    const production = (encryptionKeys: string) => ({
      NODE_ENV: "production",
      LOG_LEVEL: "error",
      DATABASE_DRIVER: "postgres",
      DATABASE_URL: scratch.url,
      ENCRYPTION_KEYS: encryptionKeys,
    });

    test("the long-lived server exits 1 and prints the kid and key version, not the keys", async () => {
      const port = freePort();
      const child = Bun.spawn(["bun", "dev/server.ts"], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HOME: process.env.HOME ?? "",
          PORT: String(port),
          ...production(REPLACED),
        },
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      });
      try {
        // A server that comes up instead of refusing ends the wait too.
        const outcome = await Promise.race([child.exited, waitUntilLive(port, 30_000).then(() => "served")]);
        expect(outcome).toBe(1);
        expect(await new Response(child.stderr).text()).toBe(`Invalid environment:\n  ${expected}\n`);
      } finally {
        child.kill("SIGKILL");
        await child.exited;
      }
    }, 60_000);

    test("a function's first request fails with the message, and succeeds once the keys are fixed", async () => {
      const broken = createServerlessApp(loadConfig(production(REPLACED)), [
        createAuthRoutes({ passwordHashing: FAST_HASHING }),
      ]);
      const signUp = () =>
        new Request("https://rampart.example/v1/auth/signup", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ email: `a-${crypto.randomUUID()}@example.com`, password: "correct horse battery" }),
        });
      const errors: unknown[] = [];
      const consoleError = console.error;
      console.error = (...args: unknown[]) => errors.push(...args);
      try {
        await expect(broken.fetch(signUp())).rejects.toThrow(expected);
        expect(errors).toEqual([`Invalid environment:\n  ${expected}`]);
      } finally {
        console.error = consoleError;
      }
      const fixed = createServerlessApp(loadConfig(production(`${REPLACED},${ORIGINAL}`)), [
        createAuthRoutes({ passwordHashing: FAST_HASHING }),
      ]);
      expect((await fixed.fetch(signUp())).status).toBe(201);
      await (await fixed.runtime()).db.close();
    }, 60_000);
  },
);
