/**
 * Log lines to standard output, written once per turn of the event loop instead of once per line: under
 * load one write carries many lines (a write per line cost about a fifth of a request's CPU). Lines
 * still pending when the process exits are written synchronously, so none is lost to process.exit.
 */
import { writeSync } from "node:fs";
import type { LogSink } from "./logger.ts";

const STDOUT_FD = 1;
const EXIT_WRITE_ATTEMPTS = 50;

// At exit nothing can wait: write synchronously, finishing partial writes and retrying a full pipe
// (EAGAIN) a bounded number of times. A reader that never drains costs the last lines, not the exit code.
function writeAllAtExit(text: string): void {
  let bytes = Buffer.from(text);
  for (let attempt = 0; bytes.length > 0 && attempt < EXIT_WRITE_ATTEMPTS; attempt++) {
    try {
      bytes = bytes.subarray(writeSync(STDOUT_FD, bytes));
    } catch (error) {
      if ((error as { code?: unknown }).code !== "EAGAIN") return;
    }
  }
}

export function createStdoutSink(
  write: (text: string) => void = (text) => process.stdout.write(text),
): LogSink & { flush(): void } {
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
    const text = pending;
    pending = "";
    if (text !== "") writeAllAtExit(text);
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
