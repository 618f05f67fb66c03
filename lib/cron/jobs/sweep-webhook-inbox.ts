/** Runs what the receiver did not finish: failed deliveries whose retry is due, and claims past their deadline. */
import { WEBHOOK_HANDLERS } from "../../webhooks/handlers.ts";
import { sweepInbox } from "../../webhooks/inbox.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

export const sweepWebhookInbox: ScheduledJob = {
  name: "sweep-webhook-inbox",
  schedule: "* * * * *",
  async run(runtime, signal) {
    const swept = await sweepInbox(runtime, WEBHOOK_HANDLERS, signal);
    return `released ${swept.released} expired claims; ${swept.done} done, ${swept.failed} failed, ${swept.dead} dead`;
  },
};
