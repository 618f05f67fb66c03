/** What every deployment bundle leaves out: production always has DATABASE_URL, so PGlite never ships. */
export const EMBEDDED_DATABASE_PACKAGES = ["@electric-sql/pglite", "drizzle-orm/pglite", "drizzle-orm/pglite/migrator"];

/**
 * How each Vercel function is bundled (tools/build-vercel.ts), and the cold-start benches that must measure the
 * same thing: what loads on demand (the unused drivers, arktype) ships as chunks beside index.mjs, parsed only
 * if imported.
 */
export const FUNCTION_BUNDLE_OPTIONS = {
  target: "bun",
  format: "esm",
  minify: true,
  splitting: true,
  naming: { entry: "index.mjs", chunk: "[name]-[hash].mjs" },
  external: EMBEDDED_DATABASE_PACKAGES,
} as const satisfies Partial<Bun.BuildConfig>;
