import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { inArray } from "drizzle-orm";
import { webhookInbox } from "../lib/db/schema/index.ts";
import { WEBHOOK_KINDS } from "../lib/webhooks/webhook-secret.ts";
import { BACKEND_HOOK_TIMEOUT_MS } from "../test/backends.ts";
import { openWebhookTestApp, postDelivery, type WebhookTestApp } from "../test/webhook-client.ts";
import { createInteropSources, expectedResults, interopCases, sendInteropMatrix } from "../test/webhook-interop.ts";

describe("inbound webhooks signed by the senders' own libraries, under Bun", () => {
  let harness: WebhookTestApp;
  beforeAll(async () => {
    harness = await openWebhookTestApp("pglite");
  }, BACKEND_HOOK_TIMEOUT_MS);
  afterAll(() => harness.runtime.close());

  test("each library's delivery is accepted once; each forgery is refused with 401 and leaves no row", async () => {
    const sources = await createInteropSources(harness.client);
    const cases = interopCases();
    // Stood still, so "301 s early or late" is exactly that when the receiver reads the clock.
    harness.clock.advance(0);
    try {
      const results = await sendInteropMatrix(
        cases,
        sources,
        (sourceId, headers, body) => postDelivery(harness.app, sourceId, headers, body),
        harness.clock.now,
      );
      expect(results).toEqual(expectedResults(cases));
    } finally {
      harness.clock.reset();
    }
    const rows = await harness.runtime.db.primary
      .select({ externalId: webhookInbox.externalId })
      .from(webhookInbox)
      .where(
        inArray(
          webhookInbox.sourceId,
          WEBHOOK_KINDS.map((kind) => sources[kind].id),
        ),
      );
    const accepted = cases.filter((entry) => entry.accepted).map((entry) => entry.externalId);
    expect(rows.map((row) => row.externalId).sort()).toEqual(accepted.sort());
  }, 30_000);
});
