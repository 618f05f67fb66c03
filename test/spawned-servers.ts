/**
 * Server processes for cross-instance tests: each a fixture script on its own free port, started with
 * the given environment, live before the test goes on, and killed afterwards with its output returned.
 * Without DATABASE_URL each opens its own copy of the migrated PGlite template, never a cold initdb.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "./free-port.ts";
import { pgliteDataDirFromTemplate } from "./pglite-template.ts";

const ROOT = join(import.meta.dir, "..");

export interface SpawnedServer {
  readonly port: number;
  readonly url: string;
}

export interface SpawnedServers {
  readonly servers: readonly SpawnedServer[];
  /** Kills every process (SIGTERM lets each shut down gracefully) and answers the lines they wrote to stdout. */
  stop(signal?: "SIGKILL" | "SIGTERM"): Promise<string[]>;
}

export async function waitUntilLive(port: number, withinMs: number): Promise<void> {
  const started = performance.now();
  while (performance.now() - started < withinMs) {
    const status = await fetch(`http://127.0.0.1:${port}/health/live`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await Bun.sleep(50);
  }
  throw new Error(`the server on port ${port} was not live within ${withinMs} ms`);
}

export async function spawnServers(
  script: string,
  count: number,
  env: Record<string, string>,
  liveWithinMs = 20_000,
): Promise<SpawnedServers> {
  const processes: Subprocess<"ignore", "pipe", "pipe">[] = [];
  const servers: SpawnedServer[] = [];
  const dataDirs: string[] = [];
  for (let i = 0; i < count; i++) {
    const port = freePort();
    servers.push({ port, url: `http://127.0.0.1:${port}` });
    const database = env.DATABASE_URL === undefined ? { PGLITE_DATA_DIR: await pgliteDataDirFromTemplate() } : {};
    if (database.PGLITE_DATA_DIR !== undefined) dataDirs.push(database.PGLITE_DATA_DIR);
    processes.push(
      Bun.spawn(["bun", script], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: String(port), ...database, ...env },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
  }
  const stop = async (signal: "SIGKILL" | "SIGTERM" = "SIGKILL") => {
    for (const child of processes) child.kill(signal);
    await Promise.all(processes.map((child) => child.exited));
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    return (await Promise.all(processes.map((child) => new Response(child.stdout).text()))).join("").split("\n");
  };
  try {
    await Promise.all(servers.map((server) => waitUntilLive(server.port, liveWithinMs)));
  } catch (error) {
    await stop();
    throw error;
  }
  return { servers, stop };
}
