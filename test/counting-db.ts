/**
 * Counts the queries a piece of code starts on a real database handle: every query begins with one of
 * these methods. Nothing is faked; the calls go through to the database unchanged.
 */
import type { Db } from "../lib/db/database.ts";
import { deriveRuntime, type Runtime } from "../lib/runtime/runtime.ts";

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

export interface CountedRuntime<R extends Runtime> {
  runtime: R;
  /** Queries started since the last reset. */
  queries(): number;
  reset(): void;
}

/**
 * A copy of `runtime` whose primary database counts the queries started on it; the copy has identity services of its
 * own.
 */
export function withCountedQueries<R extends Runtime>(runtime: R): CountedRuntime<R> {
  let count = 0;
  const primary = new Proxy(runtime.db.primary, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== "string" || !QUERY_METHODS.has(property) || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        count++;
        return (value as (...args: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Db;
  return {
    runtime: deriveRuntime(runtime, { db: { ...runtime.db, primary } }),
    queries: () => count,
    reset() {
      count = 0;
    },
  };
}
