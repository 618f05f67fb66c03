/** What every deployment bundle leaves out: production always has DATABASE_URL, so PGlite never ships. */
export const EMBEDDED_DATABASE_PACKAGES = ["@electric-sql/pglite", "drizzle-orm/pglite", "drizzle-orm/pglite/migrator"];
