/**
 * Rotates the JWT signing keys once a day and retires keys whose tokens have all expired. It runs
 * hourly so a retiring key stops verifying within an hour of its window, not a day later.
 */
import { rotateRuntimeSigningKeys } from "../../auth/signing-key-rotation.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

// A day less half an hour: a run a little early on the clock still rotates that day, and the hourly
// run before it does not (the same holds if the schedule is made daily, e.g. on Vercel's Hobby plan).
export const DEFAULT_ROTATION_INTERVAL_MS = 23.5 * 3_600_000;

export const rotateSigningKeysJob: ScheduledJob = {
  name: "rotate-signing-keys",
  schedule: "7 * * * *",
  async run(runtime) {
    const outcome = await rotateRuntimeSigningKeys(runtime, {
      actor: { type: "system" },
      onlyIfCurrentOlderThanMs: DEFAULT_ROTATION_INTERVAL_MS,
    });
    const retired = `retired ${outcome.retired.length}`;
    return outcome.rotated
      ? `rotated: ${outcome.current} signs, ${outcome.next} is next; ${retired}`
      : `not due; ${retired}`;
  },
};
