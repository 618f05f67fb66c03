/**
 * Where the Bun stacks write their JSON request lines. "stdout" is the default: Rampart's production sink
 * (one write per event-loop turn), with the bench sending stdout to /dev/null. "file" is a buffered Bun
 * FileSink on /dev/null (a write call per line, about 18 us a request more), kept to price that difference.
 */
import { createStdoutSink } from "../../lib/log/stdout-sink.ts";
export type LogSinkKind = "file" | "stdout" | "none";

export function openLogSink(kind: LogSinkKind): (line: string) => void {
  if (kind === "none") return () => {};
  if (kind === "stdout") return createStdoutSink();
  const writer = Bun.file("/dev/null").writer({ highWaterMark: 64 * 1024 });
  return (line) => {
    writer.write(`${line}\n`);
  };
}

export function logSinkFromEnv(): LogSinkKind {
  const kind = process.env.BENCH_LOG_SINK ?? "stdout";
  if (kind !== "file" && kind !== "stdout" && kind !== "none")
    throw new Error(`BENCH_LOG_SINK must be file, stdout or none, not ${kind}`);
  return kind;
}
