import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { BACKEND_HOOK_TIMEOUT_MS, DATABASE_BACKENDS, openTestRuntime, type TestRuntime } from "../../test/backends.ts";
import { users } from "../db/schema/index.ts";
import { createOrganization } from "../orgs/organizations.ts";
import { enqueueWebhookMessage } from "../outbox/webhook-outbox.ts";
import { readEventsAfter } from "./org-events.ts";

const TEST_TIMEOUT_MS = 30_000;
const WRITERS = 40;

describe.each(DATABASE_BACKENDS)("an organization's event numbers on %s", (backend) => {
  let runtime: TestRuntime;
  let orgId: string;
  beforeAll(async () => {
    runtime = await openTestRuntime({ database: backend });
    const [user] = await runtime.db.primary
      .insert(users)
      .values({ email: `events-${crypto.randomUUID()}@example.com`, passwordHash: "x" })
      .returning({ id: users.id });
    orgId = (await createOrganization(runtime, user?.id ?? "", { name: "Numbers" })).id;
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => runtime.close());

  test(
    "concurrent commits are numbered densely, and a reader polling meanwhile never sees a later number first",
    async () => {
      let done = false;
      const seen: number[] = [];
      const reader = (async () => {
        let cursor = 0;
        while (!done || cursor < WRITERS) {
          const events = await readEventsAfter(runtime.db.primary, orgId, cursor, 100);
          for (const event of events) {
            seen.push(event.seq);
            cursor = event.seq;
          }
          if (events.length === 0) await Bun.sleep(5);
        }
      })();
      await Promise.all(
        Array.from({ length: WRITERS }, (_, n) =>
          runtime.db.primary.transaction((tx) =>
            enqueueWebhookMessage(tx, { orgId, type: "member.added", data: { n } }, Date.now()),
          ),
        ),
      );
      done = true;
      await reader;
      // Every number once, in order: a number committed after a higher one would have been skipped.
      expect(seen).toEqual(Array.from({ length: WRITERS }, (_, i) => i + 1));
    },
    TEST_TIMEOUT_MS,
  );
});
