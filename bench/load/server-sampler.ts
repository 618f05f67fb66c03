/**
 * What the server spends while under load, sampled every `intervalMs`: its process's CPU and RSS (from /proc,
 * when it runs on this machine), the database's connections (pg_stat_activity) and the Redis commands run
 * (INFO stats), when the load test is given their URLs. The machine's own CPU is sampled too, because the
 * generator and the server share it.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { RedisClient } from "bun";
import postgres from "postgres";

export interface SamplerTargets {
  /** The server's process id; found from the listening port when the target is on loopback. */
  pid?: number;
  databaseUrl?: string;
  redisUrl?: string;
}

export interface ResourceSummary {
  /** The server process's CPU, in % of one core (100 = one core busy), mean and peak over the samples. */
  serverCpuPct?: { mean: number; max: number };
  serverRssMb?: { start: number; max: number; end: number };
  /** Every core of the machine, in % of all of them. */
  machineCpuPct: { mean: number; max: number };
  /** The load generator's own CPU, in % of one core. */
  generatorCpuPct: number;
  databaseConnections?: { mean: number; max: number; maxActive: number };
  redisCommandsPerSecond?: number;
  samples: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** The process listening on `port` (IPv4 or IPv6), from the socket inode in /proc/net and the fds in /proc. */
export function findListeningPid(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const lines = readFileSync(table, "utf8").split("\n").slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      // local_address is field 1 ("ADDR:PORT"), st field 3 ("0A" = LISTEN), inode field 9.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "0A" && fields[9] !== undefined) inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // another user's process, or gone
    }
    for (const fd of fds) {
      const link = readlinkSafely(`/proc/${entry}/fd/${fd}`);
      if (link?.startsWith("socket:[") && inodes.has(link.slice(8, -1))) return Number(entry);
    }
  }
  return undefined;
}

function readlinkSafely(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function processTicks(pid: number): number {
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function processRssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Math.round(Number(match?.[1] ?? 0) / 1024);
}

function machineTicks(): { busy: number; total: number } {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

const mean = (values: readonly number[]) =>
  values.length === 0 ? 0 : Math.round(values.reduce((a, b) => a + b, 0) / values.length);
const max = (values: readonly number[]) => (values.length === 0 ? 0 : Math.max(...values));

export interface ResourceSampler {
  stop(): Promise<ResourceSummary>;
}

/** Starts sampling; `stop()` answers the summary of the samples taken since. */
export function startSampler(targets: SamplerTargets, intervalMs = 500): ResourceSampler {
  const { pid } = targets;
  const sql = targets.databaseUrl === undefined ? undefined : postgres(targets.databaseUrl, { max: 1 });
  const redis = targets.redisUrl === undefined ? undefined : new RedisClient(targets.redisUrl);
  const serverCpu: number[] = [];
  const rss: number[] = [];
  const machineCpu: number[] = [];
  const connections: number[] = [];
  const active: number[] = [];
  const redisCounts: { at: number; commands: number }[] = [];
  const generatorStart = process.cpuUsage();
  const startedAt = performance.now();
  let last = { at: performance.now(), ticks: pid === undefined ? 0 : processTicks(pid), machine: machineTicks() };

  const sample = async () => {
    const at = performance.now();
    const machine = machineTicks();
    const elapsedTicks = ((at - last.at) / 1000) * CLOCK_TICKS_PER_SECOND;
    // Two samples within one clock tick have nothing between them to compare.
    if (machine.total === last.machine.total) return;
    machineCpu.push(Math.round(((machine.busy - last.machine.busy) / (machine.total - last.machine.total)) * 100));
    if (pid !== undefined) {
      const ticks = processTicks(pid);
      serverCpu.push(Math.round(((ticks - last.ticks) / elapsedTicks) * 100));
      rss.push(processRssMb(pid));
      last = { at, ticks, machine };
    } else last = { at, ticks: 0, machine };
    const [database, commands] = await Promise.all([
      sql === undefined
        ? undefined
        : sql`select count(*)::int as open, count(*) filter (where state = 'active')::int as active
        from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`,
      redis?.send("INFO", ["stats"]),
    ]);
    if (database?.[0] !== undefined) {
      connections.push(database[0].open as number);
      active.push(database[0].active as number);
    }
    const total = /total_commands_processed:(\d+)/.exec(String(commands ?? ""));
    if (total?.[1] !== undefined) redisCounts.push({ at, commands: Number(total[1]) });
  };
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(sample).catch(() => undefined);
  }, intervalMs);

  return {
    async stop() {
      clearInterval(timer);
      await running;
      await sql?.end();
      redis?.close();
      const usage = process.cpuUsage(generatorStart);
      const wallMs = performance.now() - startedAt;
      const first = redisCounts[0];
      const lastCount = redisCounts.at(-1);
      const redisSpan = first && lastCount && lastCount.at > first.at ? (lastCount.at - first.at) / 1000 : 0;
      return {
        ...(pid === undefined ? {} : { serverCpuPct: { mean: mean(serverCpu), max: max(serverCpu) } }),
        ...(pid === undefined || rss.length === 0
          ? {}
          : { serverRssMb: { start: rss[0] ?? 0, max: max(rss), end: rss.at(-1) ?? 0 } }),
        machineCpuPct: { mean: mean(machineCpu), max: max(machineCpu) },
        generatorCpuPct: Math.round(((usage.user + usage.system) / 1000 / wallMs) * 100),
        ...(connections.length === 0
          ? {}
          : { databaseConnections: { mean: mean(connections), max: max(connections), maxActive: max(active) } }),
        // Each sample adds one INFO of our own; it is subtracted.
        ...(redisSpan === 0 || !first || !lastCount
          ? {}
          : {
              redisCommandsPerSecond: Math.round(
                (lastCount.commands - first.commands - (redisCounts.length - 1)) / redisSpan,
              ),
            }),
        samples: machineCpu.length,
      };
    },
  };
}
