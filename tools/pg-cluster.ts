/**
 * Private PostgreSQL clusters on loopback from the server's own programs, for the replica tests and the
 * point-in-time recovery drill. The server refuses to run as root, so as root each program runs as `postgres`.
 */
import { chownSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

/** The folder of initdb, pg_ctl and pg_basebackup: PG_BIN, else the newest /usr/lib/postgresql/<major>/bin. */
export function postgresBin(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env.PG_BIN !== undefined) return env.PG_BIN;
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((name) => existsSync(join(root, name, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : join(root, majors[0], "bin");
}

const asRoot = process.getuid?.() === 0;
const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/** Runs `program` from `bin` with `args`; throws with its output when it fails. */
export function runPostgresProgram(bin: string, program: string, args: readonly string[]): Promise<string> {
  return runAsPostgres([join(bin, program), ...args]);
}

/** Runs a command as the user owning the clusters (`postgres` when we are root); throws with its output on failure. */
export async function runAsPostgres(command: readonly string[]): Promise<string> {
  const program = command[0] ?? "";
  const argv = asRoot ? ["su", "postgres", "-s", "/bin/sh", "-c", command.map(quote).join(" ")] : [...command];
  const child = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  if ((await child.exited) !== 0) throw new Error(`${program} failed: ${stderr.trim() || stdout.trim()}`);
  return stdout;
}

const idOfPostgres = (flag: "-u" | "-g") => Number(Bun.spawnSync(["id", flag, "postgres"]).stdout.toString());

/** A folder the cluster's programs may write to, owned by `postgres` when we are root. */
export function makeClusterFolder(path: string): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if (asRoot) chownSync(path, idOfPostgres("-u"), idOfPostgres("-g"));
  return path;
}

export interface ClusterStart {
  bin: string;
  dataDir: string;
  port: number;
  /** Server settings as `-c name=value`. */
  settings?: Record<string, string | number>;
}

/** Starts the cluster in `dataDir` on 127.0.0.1:`port` (its socket in the data folder) and waits until it serves. */
export async function startCluster({ bin, dataDir, port, settings = {} }: ClusterStart): Promise<string> {
  const options = [
    `-p ${port}`,
    `-k ${dataDir}`,
    "-c listen_addresses=127.0.0.1",
    ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
  ].join(" ");
  await runPostgresProgram(bin, "pg_ctl", [
    "-D",
    dataDir,
    "-l",
    `${dataDir}.log`,
    "-w",
    "-t",
    "60",
    "-o",
    options,
    "start",
  ]);
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

/** Stops the cluster at once (no shutdown checkpoint): what a crash or a pulled plug looks like to clients. */
export async function stopCluster(bin: string, dataDir: string): Promise<void> {
  await runPostgresProgram(bin, "pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"]);
}
