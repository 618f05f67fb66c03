/**
 * Where the Bun stacks write their JSON request lines. "file" is the default: a buffered Bun FileSink on
 * /dev/null, so each line is really encoded and written (syscalls included) as it would be to a log file.
 * "stdout" is Rampart's production sink (one write per event-loop turn), with stdout sent to /dev/null.
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
  const kind = process.env.BENCH_LOG_SINK ?? "file";
  if (kind !== "file" && kind !== "stdout" && kind !== "none")
    throw new Error(`BENCH_LOG_SINK must be file, stdout or none, not ${kind}`);
  return kind;
}
