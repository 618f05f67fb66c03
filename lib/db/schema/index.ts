/** The whole drizzle schema; drizzle-kit generates migrations/ from it. */
export * from "./job-runs.ts";
