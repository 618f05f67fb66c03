import { expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm";
import { AppError } from "../errors/app-error.ts";
import { isDatabaseUnavailable } from "./database-unavailable.ts";

// What PostgreSQL's own errors look like through both drivers: a SQLSTATE and a severity.
const fromServer = (code: string) => Object.assign(new Error("from the server"), { code, severity: "ERROR" });
const withCode = (code: string, message = "failed") => Object.assign(new Error(message), { code });

test("errors the server answered with do not mean it is unavailable", () => {
  for (const code of ["23505", "42601", "42P01", "22012", "40001", "57014", "P0001"]) expect(isDatabaseUnavailable(fromServer(code))).toBe(false);
});

test("connection failures, resource exhaustion and shutdowns do", () => {
  for (const code of ["08006", "08001", "53300", "57P01", "57P03", "58030"]) expect(isDatabaseUnavailable(fromServer(code))).toBe(true);
  for (const code of ["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "CONNECTION_DESTROYED"]) {
    expect(isDatabaseUnavailable(withCode(code))).toBe(true);
  }
  for (const message of ["Connection terminated unexpectedly", "WebSocket connection failed", "socket hang up", "timeout exceeded when trying to connect"]) {
    expect(isDatabaseUnavailable(new Error(message))).toBe(true);
  }
});

test("our own errors, and other errors thrown inside a transaction, do not", () => {
  expect(isDatabaseUnavailable(new AppError("UNAUTHORIZED"))).toBe(false);
  expect(isDatabaseUnavailable(new AppError("CONFLICT", "A connection with this name exists."))).toBe(false);
  expect(isDatabaseUnavailable(new TypeError("Cannot read properties of undefined"))).toBe(false);
  expect(isDatabaseUnavailable("a string")).toBe(false);
});

test("a failed drizzle query is judged by what it wraps, not by its SQL text", () => {
  const onConnections = (cause: unknown) => new DrizzleQueryError('select * from "connections" where "socket" = $1', ["x"], cause as Error);
  expect(isDatabaseUnavailable(onConnections(fromServer("23505")))).toBe(false);
  expect(isDatabaseUnavailable(onConnections(withCode("ECONNREFUSED")))).toBe(true);
  expect(isDatabaseUnavailable(onConnections(new AppError("NOT_FOUND")))).toBe(false);
});
