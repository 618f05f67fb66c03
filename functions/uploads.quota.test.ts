/** The quota under concurrency: reservations race, and exactly as many as fit are admitted, on every database. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { orgStorage } from "../lib/db/schema/index.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../test/backends.ts";
import { ADMIN_TOKEN, type IdentityClient, identityClient } from "../test/identity-client.ts";
import { orgRoutes } from "./orgs.ts";
import { uploadRoutes } from "./uploads.ts";

const FILE_BYTES = 1_000;

describe.each(DATABASE_BACKENDS)("upload quota on %s", (backend) => {
  let runtime: TestRuntime;
  let app: RampartApp;
  let client: IdentityClient;

  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend, env: { TRUST_PROXY: "1", ADMIN_TOKEN } });
    app = buildApp(runtime, [orgRoutes(), uploadRoutes()]);
    client = identityClient(runtime, app);
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close(), BACKEND_HOOK_TIMEOUT_MS);

  test(
    "50 concurrent reservations against a quota that fits 10: exactly 10 succeed, the rest QUOTA_EXCEEDED",
    async () => {
      const owner = await client.createUser();
      const orgId = await client.createOrg(owner);
      await runtime.db.primary.insert(orgStorage).values({ orgId, quotaBytes: 10 * FILE_BYTES });
      const key = await client.issueKey(owner, orgId, { scopes: ["uploads:write"] });
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          client.call("POST", `/v1/orgs/${orgId}/uploads`, {
            token: key.key,
            body: {
              filename: `f${i}.png`,
              contentType: "image/png",
              size: FILE_BYTES,
              sha256: Buffer.alloc(32, i).toString("base64"),
            },
          }),
        ),
      );
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 201)).toHaveLength(10);
      expect(statuses.filter((s) => s === 409)).toHaveLength(40);
      const refused = answers.find((r) => r.status === 409) ?? new Response("{}");
      expect(((await refused.json()) as { error?: { code: string } }).error?.code).toBe("QUOTA_EXCEEDED");
      const [row] = await runtime.db.primary.select().from(orgStorage).where(eq(orgStorage.orgId, orgId));
      expect(row?.reservedBytes).toBe(10 * FILE_BYTES);
    },
    BACKEND_HOOK_TIMEOUT_MS,
  );
});
