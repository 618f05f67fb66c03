/** Every scheduled job; vercel.json's crons and the Deno entry are checked against this list. */
import { deliverWebhooks } from "./jobs/deliver-webhooks.ts";
import { evaluateSlos } from "./jobs/evaluate-slos.ts";
import { expireUploads } from "./jobs/expire-uploads.ts";
import { flagOldApiKeys } from "./jobs/flag-old-api-keys.ts";
import { pruneJobRuns } from "./jobs/prune-job-runs.ts";
import { pruneMetrics } from "./jobs/prune-metrics.ts";
import { pruneSessions } from "./jobs/prune-sessions.ts";
import { pruneWebhookInbox } from "./jobs/prune-webhook-inbox.ts";
import { reencryptSecrets } from "./jobs/reencrypt-secrets.ts";
import { replayCachePurges } from "./jobs/replay-cache-purges.ts";
import { rollupMetrics } from "./jobs/rollup-metrics.ts";
import { rotateSigningKeysJob } from "./jobs/rotate-signing-keys.ts";
import { sweepWebhookInbox } from "./jobs/sweep-webhook-inbox.ts";
import type { ScheduledJob } from "./scheduled-job.ts";

export const SCHEDULED_JOBS: readonly ScheduledJob[] = [
  pruneJobRuns,
  pruneSessions,
  rotateSigningKeysJob,
  reencryptSecrets,
  flagOldApiKeys,
  sweepWebhookInbox,
  pruneWebhookInbox,
  deliverWebhooks,
  rollupMetrics,
  pruneMetrics,
  evaluateSlos,
  replayCachePurges,
  expireUploads,
];

export function findScheduledJob(name: string): ScheduledJob | undefined {
  return SCHEDULED_JOBS.find((job) => job.name === name);
}
