/** Structured JSON logging: one object per line, secrets redacted, written to a swappable sink. */
import { currentTrace } from "../trace/trace-context.ts";
import { redact, redactRecord, redactText } from "./redact.ts";
import { createStdoutSink } from "./stdout-sink.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;
export type LogSink = (line: string) => void;

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  sink: LogSink;
  fields: LogFields;
}

export const DEFAULT_LOGGER_OPTIONS: LoggerOptions = {
  level: "info",
  sink: createStdoutSink(),
  fields: {},
};

// Lines are written many times a millisecond under load: the timestamp is formatted once per millisecond.
let stampedAt = 0;
let stamp = "";
function isoNow(): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    stamp = new Date(now).toISOString();
  }
  return stamp;
}

// `{"a":1}` → `,"a":1`; `{}` → ``: the members of a serialised object, to append to a line being built.
const membersOf = (json: string) => (json.length <= 2 ? "" : `,${json.slice(1, -1)}`);

export function createLogger(options: Partial<LoggerOptions> = {}): Logger {
  const { level, sink, fields } = { ...DEFAULT_LOGGER_OPTIONS, ...options };
  const minRank = LEVEL_RANK[level];
  // A child's own fields never change: serialised once, not on every line.
  const fixedMembers = membersOf(JSON.stringify(redact(fields)));
  const write = (lvl: LogLevel, msg: string, extra?: LogFields) => {
    if (LEVEL_RANK[lvl] < minRank) return;
    let extraMembers = extra === undefined ? "" : membersOf(JSON.stringify(redactRecord(extra)));
    // A line written while a request or job runs carries its trace, unless the caller named one.
    const trace = extra?.traceId === undefined ? currentTrace() : undefined;
    if (trace !== undefined) extraMembers += `,"traceId":"${trace.traceId}"`;
    sink(
      `{"level":"${lvl}","time":"${isoNow()}","msg":${JSON.stringify(redactText(msg))}${fixedMembers}${extraMembers}}`,
    );
  };
  return {
    debug: (msg, extra) => write("debug", msg, extra),
    info: (msg, extra) => write("info", msg, extra),
    warn: (msg, extra) => write("warn", msg, extra),
    error: (msg, extra) => write("error", msg, extra),
    child: (more) => createLogger({ level, sink, fields: { ...fields, ...more } }),
  };
}

/** A sink that keeps lines in memory, for tests that check what was logged. */
export function createMemorySink(): { sink: LogSink; lines: string[]; records(): LogFields[] } {
  const lines: string[] = [];
  return { sink: (line) => lines.push(line), lines, records: () => lines.map((l) => JSON.parse(l) as LogFields) };
}
