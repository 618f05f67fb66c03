/**
 * Expires reservations never completed and gives their quota back. Database only: the cron function stays free of
 * the storage client (its bundle budget), so bytes a client sent but never completed stay in the bucket until a
 * lifecycle rule or a new upload of the same content replaces them.
 */
import { expirePendingUploads } from "../../uploads/upload-records.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

export const expireUploads: ScheduledJob = {
  name: "expire-uploads",
  schedule: "13 * * * *",
  async run(runtime) {
    const expired = await expirePendingUploads(runtime.db.primary, runtime.now());
    const released = expired.reduce((sum, row) => sum + row.size, 0);
    return `expired ${expired.length} uploads, released ${released} bytes`;
  },
};
