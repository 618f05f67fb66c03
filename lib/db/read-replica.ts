/** Routes reads to a replica and falls back to the primary when the replica fails. */
import type { Logger } from "../log/logger.ts";
import type { Db } from "./database.ts";

export function createReadRouter(primary: Db, replica: Db | undefined, logger: Logger) {
  if (replica === undefined) return <T>(query: (db: Db) => Promise<T>) => query(primary);
  let replicaFailing = false;
  return async <T>(query: (db: Db) => Promise<T>): Promise<T> => {
    try {
      const result = await query(replica);
      if (replicaFailing) {
        replicaFailing = false;
        logger.info("read replica recovered");
      }
      return result;
    } catch (error) {
      if (!replicaFailing) {
        replicaFailing = true;
        logger.warn("read replica failed, reading from the primary", { error });
      }
      return query(primary);
    }
  };
}
