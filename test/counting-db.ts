/**
 * Counts the queries a piece of code starts on a real database handle (every query begins with one of
 * these methods), and the store calls it makes per key prefix. Nothing is faked; the calls go through to
 * the database and the store unchanged.
 */
import type { Db } from "../lib/db/database.ts";
import { deriveRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import type { Store } from "../lib/store/store.ts";

const QUERY_METHODS = new Set([
  "select",
  "selectDistinct",
  "selectDistinctOn",
  "insert",
  "update",
  "delete",
  "execute",
  "transaction",
]);

const STORE_METHODS = new Set(["get", "set", "incr", "expire", "ttl", "del"]);

export interface CountedRuntime<R extends Runtime> {
  runtime: R;
  /** Queries started since the last reset. */
  queries(): number;
  /** Queries started with `method` (e.g. "insert") since the last reset. */
  queriesOf(method: string): number;
  /** Store calls on keys starting with `prefix` since the last reset. */
  storeCalls(prefix: string): number;
  reset(): void;
}

/**
 * A copy of `runtime` whose primary database and store count what is started on them; the copy has identity
 * services of its own.
 */
export function withCountedQueries<R extends Runtime>(runtime: R): CountedRuntime<R> {
  let queries: string[] = [];
  let storeKeys: string[] = [];
  const primary = new Proxy(runtime.db.primary, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== "string" || !QUERY_METHODS.has(property) || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        queries.push(property);
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Db;
  const store = new Proxy(runtime.store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof property !== "string" || !STORE_METHODS.has(property) || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        storeKeys.push(String(args[0]));
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Store;
  return {
    runtime: deriveRuntime(runtime, { db: { ...runtime.db, primary }, store }),
    queries: () => queries.length,
    queriesOf: (method) => queries.filter((started) => started === method).length,
    storeCalls: (prefix) => storeKeys.filter((key) => key.startsWith(prefix)).length,
    reset() {
      queries = [];
      storeKeys = [];
    },
  };
}
