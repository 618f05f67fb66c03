/** Structured JSON logging: one object per line, secrets redacted, written to a swappable sink. */
import { redact } from "./redact.ts";

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
  sink: (line) => process.stdout.write(`${line}\n`),
  fields: {},
};

export function createLogger(options: Partial<LoggerOptions> = {}): Logger {
  const { level, sink, fields } = { ...DEFAULT_LOGGER_OPTIONS, ...options };
  const minRank = LEVEL_RANK[level];
  const write = (lvl: LogLevel, msg: string, extra?: LogFields) => {
    if (LEVEL_RANK[lvl] < minRank) return;
    const record = { level: lvl, time: new Date().toISOString(), msg, ...fields, ...extra };
    sink(JSON.stringify(redact(record)));
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
