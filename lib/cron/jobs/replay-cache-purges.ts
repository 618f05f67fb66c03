/** Makes the tag purges writes could not make while the store was unreachable (lib/cache/pending-purges.ts). */
import { replayPendingPurges } from "../../cache/pending-purges.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

export const replayCachePurges: ScheduledJob = {
  name: "replay-cache-purges",
  schedule: "* * * * *",
  async run(runtime) {
    return `purged ${await replayPendingPurges(runtime)} kept tags`;
  },
};
