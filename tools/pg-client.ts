/**
 * PostgreSQL's client programs (pg_dump, pg_restore) for the backup scripts: found in PG_BIN or on PATH, refused when
 * older than the server's major version (pg_dump aborts on a newer server), and given a URL's password through
 * PGPASSWORD so it shows neither in the process list nor in a message.
 */
import { join } from "node:path";
import postgres from "postgres";

export class BackupError extends Error {
  override name = "BackupError";
}

/** The major version in a program's `--version` line, e.g. 15 from "pg_dump (PostgreSQL) 15.18 (Debian …)". */
export function majorOfClient(versionLine: string): number | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.\d+)?/.exec(versionLine);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Throws when a client of major `client` cannot work with a server of major `server`. */
export function assertClientNotOlder(program: string, client: number, server: number): void {
  if (client < server)
    throw new BackupError(
      `${program} ${client} is older than the server (PostgreSQL ${server}): install the client of version ${server} ` +
        `or newer (e.g. postgresql-client-${server}) and point PG_BIN at its bin folder`,
    );
}

/** The path of `program`: in PG_BIN when it is set, else whatever PATH finds. */
export function clientProgram(program: string, env: Record<string, string | undefined> = process.env): string {
  return env.PG_BIN === undefined ? program : join(env.PG_BIN, program);
}

/** A URL without its password, and the environment that hands the password to the client instead. */
export function connectionFor(url: string): { url: string; env: Record<string, string> } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = "";
  return { url: parsed.toString(), env: password === "" ? {} : { PGPASSWORD: password } };
}

/** Where a URL points, for messages: host, port and database, never the credentials. */
export function describeTarget(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`;
}

/** Runs a client program; throws a BackupError with its own message when it fails. */
export async function runClient(argv: string[], env: Record<string, string> = {}): Promise<string> {
  let child: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    child = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  } catch {
    throw new BackupError(`${argv[0]} was not found: install PostgreSQL's client programs or set PG_BIN`);
  }
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  if ((await child.exited) !== 0) throw new BackupError(`${argv[0]} failed: ${stderr.trim() || stdout.trim()}`);
  return stdout;
}

/** The server's major version, e.g. 15. */
export async function serverMajor(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    const [row] = await sql<{ server_version_num: string }[]>`show server_version_num`;
    return Math.floor(Number(row?.server_version_num) / 10_000);
  } catch (error) {
    throw new BackupError(
      `cannot reach the database at ${describeTarget(url)}: ${error instanceof Error ? error.message : error}`,
    );
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Checks that `program` can work with the server at `url`; returns the client's path and major version. */
export async function checkedClient(program: string, url: string): Promise<{ path: string; major: number }> {
  const path = clientProgram(program);
  const line = await runClient([path, "--version"]);
  const major = majorOfClient(line);
  if (major === undefined) throw new BackupError(`${path} --version answered "${line.trim()}", not a version`);
  assertClientNotOlder(program, major, await serverMajor(url));
  return { path, major };
}
