/**
 * `bun run db:restore-drill [--server <url>]`: proves a backup restores. On a PostgreSQL server (TEST_POSTGRES_URL by
 * default) it populates a new database through the app, dumps it with db:backup, restores it with db:restore into
 * another new one, and checks: row counts and every column's checksum equal for every table, migrations a no-op,
 * `/health/ready` 200 and a sign-in working on the restored copy. It prints the RTO: restore + migrate + boot to ready.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import postgres from "postgres";
import { createAuthRoutes } from "../functions/auth.ts";
import health from "../functions/health.ts";
import orgs from "../functions/orgs.ts";
import { loadConfig } from "../lib/config/config.ts";
import { buildApp, type RampartApp } from "../lib/http/app.ts";
import { createLogger } from "../lib/log/logger.ts";
import { openRuntime, type Runtime } from "../lib/runtime/runtime.ts";
import { MemoryStore } from "../lib/store/memory-store.ts";
import { backupDatabase } from "./db-backup.ts";
import { restoreDatabase } from "./db-restore.ts";
import { BackupError } from "./pg-client.ts";

/** A table's row count and the MD5 of each column's values in order, NULLs included. */
export interface TableFingerprint {
  table: string;
  rows: number;
  columns: Record<string, string>;
}

export interface RestoreDrillReport {
  source: TableFingerprint[];
  restored: TableFingerprint[];
  /** Migrations recorded before and after `db:migrate` on the restored copy. */
  migrations: { before: number; after: number };
  readyStatus: number;
  signInStatus: number;
  dumpBytes: number;
  timings: { dumpMs: number; restoreMs: number; migrateMs: number; bootMs: number; rtoMs: number };
}

const BULK_ROWS = 2_000;
const PASSWORD = "drill-password-0123456789";
const quiet = createLogger({ sink: () => {} });

const urlOf = (server: string, database: string) =>
  Object.assign(new URL(server), { pathname: `/${database}` }).toString();
const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Every table outside PostgreSQL's own schemas, fingerprinted. */
export async function fingerprintTables(url: string): Promise<TableFingerprint[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const columns = await sql<{ schema: string; table: string; column: string }[]>`
      select c.table_schema as schema, c.table_name as table, c.column_name as column
      from information_schema.columns c join information_schema.tables t using (table_schema, table_name)
      where t.table_type = 'BASE TABLE' and c.table_schema not in ('pg_catalog', 'information_schema')
      order by 1, 2, c.ordinal_position`;
    const tables = new Map<string, { schema: string; table: string; column: string }[]>();
    for (const column of columns) {
      const key = `${column.schema}.${column.table}`;
      tables.set(key, [...(tables.get(key) ?? []), column]);
    }
    const fingerprints: TableFingerprint[] = [];
    for (const [table, cols] of tables) {
      const digests = cols.map(({ column }, i) => {
        const value = `${quoteIdent(column)}::text`;
        return `md5(coalesce(string_agg(coalesce(${value}, '<null>'), E'\\n' order by ${value}), '')) as c${i}`;
      });
      const [schema = "", name = ""] = [cols[0]?.schema, cols[0]?.table];
      const [row] = await sql.unsafe<Record<string, string | number>[]>(
        `select count(*)::int as rows, ${digests.join(", ")} from ${quoteIdent(schema)}.${quoteIdent(name)}`,
      );
      fingerprints.push({
        table,
        rows: Number(row?.rows),
        columns: Object.fromEntries(cols.map(({ column }, i) => [column, String(row?.[`c${i}`])])),
      });
    }
    return fingerprints;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function openApp(url: string): Promise<{ runtime: Runtime; app: RampartApp }> {
  const config = loadConfig({ NODE_ENV: "test", DATABASE_URL: url, DATABASE_DRIVER: "postgres", TRUST_PROXY: "1" });
  const runtime = await openRuntime(config, { logger: quiet, store: new MemoryStore() });
  return { runtime, app: buildApp(runtime, [health, createAuthRoutes(), orgs]) };
}

const call = (app: RampartApp, method: string, path: string, body?: unknown, token?: string) =>
  app.fetch(
    new Request(`http://localhost${path}`, {
      method,
      headers: {
        "x-forwarded-for": "10.99.0.1",
        ...(body !== undefined && { "content-type": "application/json" }),
        ...(token !== undefined && { authorization: `Bearer ${token}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
  );

/** A user who signs up, an organization, and bulk rows, written the way the app writes them. */
async function populate(url: string, email: string): Promise<void> {
  const { runtime, app } = await openApp(url);
  try {
    await runtime.db.migrate();
    const signUp = await call(app, "POST", "/v1/auth/signup", { email, password: PASSWORD });
    if (signUp.status !== 201) throw new BackupError(`drill sign-up answered ${signUp.status}: ${await signUp.text()}`);
    const { accessToken } = (await signUp.json()) as { accessToken: string };
    const org = await call(app, "POST", "/v1/orgs", { name: "Drill" }, accessToken);
    if (org.status !== 201) throw new BackupError(`drill org answered ${org.status}: ${await org.text()}`);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql`insert into job_runs (job, slot) select 'drill', 'slot-' || n from generate_series(1, ${BULK_ROWS}) n`;
    await sql.end({ timeout: 1 });
  } finally {
    await runtime.db.close();
  }
}

async function migrationCount(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ n: number }[]>`select count(*)::int as n from drizzle.__drizzle_migrations`;
    return row?.n ?? 0;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Runs the drill on `server` in two new databases, dropped afterwards. */
export async function runRestoreDrill(server: string): Promise<RestoreDrillReport> {
  const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const [sourceDb, targetDb] = [`rampart_drill_${suffix}_source`, `rampart_drill_${suffix}_restored`];
  const [source, target] = [urlOf(server, sourceDb), urlOf(server, targetDb)];
  const admin = postgres(server, { max: 1, onnotice: () => {} });
  const folder = mkdtempSync(join(tmpdir(), "rampart-drill-"));
  try {
    await admin.unsafe(`create database ${sourceDb}`);
    const email = `drill-${suffix}@example.com`;
    await populate(source, email);
    const sourceTables = await fingerprintTables(source);
    const dump = await backupDatabase(source, join(folder, "drill.dump"));

    // The RTO clock: an empty database made, the archive restored, migrations applied, the app ready.
    const restoreStarted = performance.now();
    await admin.unsafe(`create database ${targetDb}`);
    await restoreDatabase(dump.file, target);
    const restoreMs = performance.now() - restoreStarted;
    const before = await migrationCount(target);
    const migrateStarted = performance.now();
    const { runtime, app } = await openApp(target);
    await runtime.db.migrate();
    const migrateMs = performance.now() - migrateStarted;
    const after = await migrationCount(target);
    const restoredTables = await fingerprintTables(target);
    const bootStarted = performance.now();
    const ready = await call(app, "GET", "/health/ready");
    const bootMs = performance.now() - bootStarted;
    const signIn = await call(app, "POST", "/v1/auth/login", { email, password: PASSWORD });
    await runtime.db.close();
    return {
      source: sourceTables,
      restored: restoredTables,
      migrations: { before, after },
      readyStatus: ready.status,
      signInStatus: signIn.status,
      dumpBytes: dump.bytes,
      timings: { dumpMs: dump.durationMs, restoreMs, migrateMs, bootMs, rtoMs: restoreMs + migrateMs + bootMs },
    };
  } finally {
    await admin.unsafe(`drop database if exists ${sourceDb} with (force)`);
    await admin.unsafe(`drop database if exists ${targetDb} with (force)`);
    await admin.end({ timeout: 1 });
    rmSync(folder, { recursive: true, force: true });
  }
}

/** One line for the log: what was checked, and the RTO split into its parts. */
export function describeDrill(report: RestoreDrillReport): string {
  const rows = report.source.reduce((sum, table) => sum + table.rows, 0);
  const { dumpMs, restoreMs, migrateMs, bootMs, rtoMs } = report.timings;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return (
    `restore drill: ${report.source.length} tables, ${rows} rows, dump ${report.dumpBytes} bytes in ${s(dumpMs)}; ` +
    `RTO ${s(rtoMs)} (restore ${s(restoreMs)}, migrate ${s(migrateMs)}, ready ${s(bootMs)})`
  );
}

/** What differs between the source and the restored copy; empty when the drill passed. */
export function drillProblems(report: RestoreDrillReport): string[] {
  const problems: string[] = [];
  const restored = new Map(report.restored.map((table) => [table.table, table]));
  for (const table of report.source) {
    const copy = restored.get(table.table);
    if (copy === undefined) problems.push(`${table.table} is missing`);
    else if (copy.rows !== table.rows) problems.push(`${table.table}: ${copy.rows} rows, expected ${table.rows}`);
    else
      for (const [column, digest] of Object.entries(table.columns))
        if (copy.columns[column] !== digest) problems.push(`${table.table}.${column} differs`);
  }
  if (report.restored.length !== report.source.length) problems.push("the restored copy has other tables");
  if (report.migrations.after !== report.migrations.before) problems.push("db:migrate changed the restored copy");
  if (report.readyStatus !== 200) problems.push(`/health/ready answered ${report.readyStatus}`);
  if (report.signInStatus !== 200) problems.push(`sign-in answered ${report.signInStatus}`);
  return problems;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { server: { type: "string" } } });
  const server = values.server ?? process.env.TEST_POSTGRES_URL;
  if (server === undefined) {
    console.error("usage: bun run db:restore-drill --server postgres://user@host:port/postgres (or TEST_POSTGRES_URL)");
    process.exit(1);
  }
  const report = await runRestoreDrill(server);
  console.log(describeDrill(report));
  const problems = drillProblems(report);
  for (const problem of problems) console.error(`  ${problem}`);
  process.exit(problems.length === 0 ? 0 : 1);
}
