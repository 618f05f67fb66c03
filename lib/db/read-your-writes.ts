/**
 * Read-your-writes across instances. Once a request's transaction commits, its caller and the organization it acted
 * on are marked in the store for a short window; reads of any request by that caller or on that organization go to
 * the primary while the mark lasts. The mark is set before the write's cache purge runs, so another member's miss
 * after the purge cannot cache a lagging replica's answer under the tag's new version.
 */
import type { Logger } from "../log/logger.ts";
import type { Store } from "../store/store.ts";
import { type CommitScope, currentCommitScope } from "./commit-guard.ts";
import type { Database, Db } from "./database.ts";

export interface ReadYourWritesOptions {
  /** How long after a write its caller's reads stay on the primary (DATABASE_READ_AFTER_WRITE_MS). @default 5000 */
  windowMs: number;
  /** Epoch milliseconds; tests move it instead of sleeping. @default Date.now */
  now: () => number;
}

export const DEFAULT_READ_YOUR_WRITES: ReadYourWritesOptions = { windowMs: 5_000, now: Date.now };

function markKeys(scope: CommitScope): string[] {
  const keys: string[] = [];
  const { caller } = scope;
  if (caller?.kind === "user") keys.push(`ryw:user:${caller.userId}`);
  else if (caller?.kind === "api_key") keys.push(`ryw:key:${caller.keyId}`);
  const orgId = scope.org?.id ?? scope.orgId;
  if (orgId !== undefined) keys.push(`ryw:org:${orgId}`);
  return keys;
}

/** `database` with reads kept on the primary inside a caller's window; unchanged when it has no replica. */
export function withReadYourWrites(
  database: Database,
  store: Store,
  logger: Logger,
  options: Partial<ReadYourWritesOptions> = {},
): Database {
  if (database.replicaBreaker === undefined) return database;
  const { windowMs, now } = { ...DEFAULT_READ_YOUR_WRITES, ...options };
  // One store round trip per request at most; its own write settles it without one.
  const decided = new WeakMap<CommitScope, Promise<boolean>>();

  const wroteRecently = async (scope: CommitScope): Promise<boolean> => {
    const keys = markKeys(scope);
    if (keys.length === 0) return false;
    // The in-process stand-in cannot see other instances' marks.
    if (store.isDegraded?.()) return true;
    try {
      const marks = await store.mget(keys);
      const at = now();
      return marks.some((mark) => mark !== null && at - Number(mark) < windowMs);
    } catch (error) {
      logger.warn("read-your-writes check failed, reading from the primary", { error });
      return true;
    }
  };

  const markWrite = async (scope: CommitScope): Promise<void> => {
    decided.set(scope, Promise.resolve(true));
    const at = String(now());
    try {
      await Promise.all(markKeys(scope).map((key) => store.set(key, at, { ttlMs: windowMs })));
    } catch (error) {
      // The write stands; other instances may read the replica's older rows for up to the lag limit.
      logger.warn("read-your-writes mark failed", { error });
    }
  };

  const primary = database.primary;
  const transaction: Db["transaction"] = async (run, config) => {
    const result = await primary.transaction(run, config);
    const scope = currentCommitScope();
    if (scope !== undefined) await markWrite(scope);
    return result;
  };
  return {
    ...database,
    primary: new Proxy(primary, {
      get: (target, property, receiver) =>
        property === "transaction" ? transaction : Reflect.get(target, property, receiver),
    }),
    read: async (query) => {
      const scope = currentCommitScope();
      if (scope === undefined) return database.read(query);
      let decision = decided.get(scope);
      if (decision === undefined) {
        decision = wroteRecently(scope);
        decided.set(scope, decision);
      }
      return (await decision) ? query(primary) : database.read(query);
    },
  };
}
