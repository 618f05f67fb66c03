/** The record every load-test report carries: what generated the load, against what, on which machine. */
import { cpus, freemem, loadavg, totalmem } from "node:os";
import { ROOT_DIR } from "./paths.ts";

export interface RunInfo {
  tool: string;
  commit: string;
  machine: { cpu: string; cores: number; memoryGb: number; loadAverageAtStart: number };
  target: { url: string; sameMachine: boolean; serverPid?: number; dependencies?: Record<string, string> };
  rateLimits: { overridden: boolean; how: string };
  latencyModel: string;
  startedAt: string;
}

function git(...args: string[]): string {
  const result = Bun.spawnSync(["git", ...args], { cwd: ROOT_DIR });
  return result.success ? result.stdout.toString().trim() : "unknown";
}

export function commitOf(): string {
  const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
  return `${git("rev-parse", "--short", "HEAD")}${dirty ? " (with uncommitted changes)" : ""}`;
}

export async function toolVersion(): Promise<string> {
  const { version } = (await Bun.file(`${ROOT_DIR}/package.json`).json()) as { version: string };
  return `rampart loadtest ${version} (bench/load, fetch) on Bun ${Bun.version}`;
}

export function machineInfo(): RunInfo["machine"] {
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAverageAtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

export const freeMemoryGb = () => Math.round((freemem() / 2 ** 30) * 10) / 10;

/** The driver of each dependency, as `/health/ready` names them (PGlite or PostgreSQL, memory or Upstash). */
export async function dependenciesOf(base: string): Promise<Record<string, string> | undefined> {
  const response = await fetch(new URL("/health/ready", base)).catch(() => undefined);
  if (response === undefined) return undefined;
  const body = (await response.json().catch(() => ({}))) as { checks?: Record<string, { driver?: string }> };
  if (body.checks === undefined) return undefined;
  const drivers = Object.entries(body.checks).filter(([, check]) => check.driver !== undefined);
  return Object.fromEntries(drivers.map(([name, check]) => [name, String(check.driver)]));
}
