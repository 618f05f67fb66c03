/**
 * Refuses to commit a transaction for a request that was abandoned (its deadline passed, or shutdown
 * gave up on it): its client was already answered 503 or 504, so the write must roll back, not land
 * unseen. The request is found through AsyncLocalStorage, so no query site has to pass it down.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Caller } from "../core/caller.ts";
import { processWide } from "../core/process-wide.ts";
import type { Database, Db } from "./database.ts";

export interface CommitScope {
  /** Aborts when the request is abandoned. */
  readonly signal: AbortSignal;
  /** Set when one of its transactions begins to commit: from then on only the handler's own answer is true. */
  commitStarted: boolean;
  /** Who the request acts for and on, once its guards have run: read-your-writes marks them (read-your-writes.ts). */
  readonly caller?: Caller;
  readonly orgId?: string;
  readonly org?: { readonly id: string };
}

const scopes = processWide("commit-scopes", () => new AsyncLocalStorage<CommitScope>());

/** Runs `run` (a request's handling) so that the transactions it opens answer to `scope`. */
export function runInCommitScope<T>(scope: CommitScope, run: () => T): T {
  return scopes.run(scope, run);
}

/** The scope of the request whose handling is running, if any. */
export function currentCommitScope(): CommitScope | undefined {
  return scopes.getStore();
}

function guardTransactions(db: Db): Db {
  const transaction: Db["transaction"] = (run, config) => {
    const scope = scopes.getStore();
    if (scope === undefined) return db.transaction(run, config);
    return db.transaction(async (tx) => {
      const result = await run(tx);
      // Thrown inside the callback, so the driver rolls back; past this line the abandon waits for the answer.
      scope.signal.throwIfAborted();
      scope.commitStarted = true;
      return result;
    }, config);
  };
  return new Proxy(db, {
    get: (target, property, receiver) =>
      property === "transaction" ? transaction : Reflect.get(target, property, receiver),
  });
}

/** The database with every transaction on the primary checked before it commits. */
export function withCommitGuard(database: Database): Database {
  return { ...database, primary: guardTransactions(database.primary) };
}
