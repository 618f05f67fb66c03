/**
 * Log lines to standard output, written once per turn of the event loop instead of once per line: under
 * load one write carries many lines (a write per line cost about a fifth of a request's CPU). Lines
 * still pending when the process exits are written synchronously, so none is lost to process.exit.
 */
import { writeSync } from "node:fs";
import type { LogSink } from "./logger.ts";

const STDOUT_FD = 1;

export function createStdoutSink(write: (text: string) => void = (text) => process.stdout.write(text)): LogSink & { flush(): void } {
  let pending = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === "") return;
    const text = pending;
    pending = "";
    write(text);
  };
  process.on("exit", () => {
    if (pending !== "") writeSync(STDOUT_FD, pending);
    pending = "";
  });
  const sink = (line: string) => {
    pending += `${line}\n`;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return Object.assign(sink, { flush });
}
