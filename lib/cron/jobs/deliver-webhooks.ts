/** Sends the outbox's due attempts: first attempts not yet sent, and retries whose time has come. */
import { createOutboundDeliverer } from "../../webhooks/outbound-delivery.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

export const deliverWebhooks: ScheduledJob = {
  name: "deliver-webhooks",
  schedule: "* * * * *",
  async run(runtime, signal) {
    const sent = await createOutboundDeliverer(runtime).deliverDue(signal);
    return `${sent.success} delivered, ${sent.failed} failed, ${sent.exhausted} exhausted, ${sent.cancelled} cancelled`;
  },
};
