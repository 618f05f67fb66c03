import { expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm";
import { AppError } from "../errors/app-error.ts";
import { isDatabaseUnavailable } from "./database-unavailable.ts";

// What PostgreSQL's own errors look like through both drivers: a SQLSTATE and a severity.
const fromServer = (code: string) => Object.assign(new Error("from the server"), { code, severity: "ERROR" });
const withCode = (code: string, message = "failed") => Object.assign(new Error(message), { code });

test("errors the server answered with do not mean it is unavailable", () => {
  for (const code of ["23505", "42601", "42P01", "22012", "40001", "57014", "P0001"])
    expect(isDatabaseUnavailable(fromServer(code))).toBe(false);
});

test("connection failures, resource exhaustion and shutdowns do", () => {
  for (const code of ["08006", "08001", "53300", "57P01", "57P03", "58030"])
    expect(isDatabaseUnavailable(fromServer(code))).toBe(true);
  for (const code of [
    "ECONNREFUSED",
    "ECONNRESET",
    "EPIPE",
    "ETIMEDOUT",
    "CONNECT_TIMEOUT",
    "CONNECTION_CLOSED",
    "CONNECTION_DESTROYED",
  ]) {
    expect(isDatabaseUnavailable(withCode(code))).toBe(true);
  }
  // The Neon driver's pg client: these fixed texts, no code.
  for (const message of [
    "Connection terminated unexpectedly",
    "Client has encountered a connection error and is not queryable",
    "timeout exceeded when trying to connect",
  ]) {
    expect(isDatabaseUnavailable(new Error(message))).toBe(true);
  }
  expect(
    isDatabaseUnavailable(
      new Error("Connection terminated due to connection timeout", {
        cause: new Error("Connection terminated unexpectedly"),
      }),
    ),
  ).toBe(true);
});

test("the Neon driver's WebSocket failure, an ErrorEvent rather than an Error, does, bare or wrapped", () => {
  const refused = new ErrorEvent("error", { message: "WebSocket connection to 'ws://127.0.0.1:4444/v1' failed" });
  expect(isDatabaseUnavailable(refused)).toBe(true);
  expect(isDatabaseUnavailable(new DrizzleQueryError("select 1", [], refused as unknown as Error))).toBe(true);
});

test("a socket or pool error wrapped in another error does, through its cause", () => {
  expect(
    isDatabaseUnavailable(new Error("transaction failed", { cause: withCode("ECONNRESET", "read ECONNRESET") })),
  ).toBe(true);
});

test("free text that merely mentions a connection does not: only codes and the driver's own texts count", () => {
  for (const message of [
    "No connection named billing",
    "socket hang up",
    "the websocket upgrade timed out in the test stub",
    "inserting a connection returned no row",
  ]) {
    expect(isDatabaseUnavailable(new Error(message))).toBe(false);
  }
  // A code says what happened, whatever the text claims.
  expect(isDatabaseUnavailable(withCode("ERR_INVALID_ARG_TYPE", "Connection terminated unexpectedly"))).toBe(false);
});

test("our own errors, and other errors thrown inside a transaction, do not", () => {
  expect(isDatabaseUnavailable(new AppError("UNAUTHORIZED"))).toBe(false);
  expect(isDatabaseUnavailable(new AppError("CONFLICT", "A connection with this name exists."))).toBe(false);
  expect(isDatabaseUnavailable(new TypeError("Cannot read properties of undefined"))).toBe(false);
  expect(isDatabaseUnavailable("a string")).toBe(false);
});

test("a failed drizzle query is judged by what it wraps, not by its SQL text", () => {
  const onConnections = (cause: unknown) =>
    new DrizzleQueryError('select * from "connections" where "socket" = $1', ["x"], cause as Error);
  expect(isDatabaseUnavailable(onConnections(fromServer("23505")))).toBe(false);
  expect(isDatabaseUnavailable(onConnections(withCode("ECONNREFUSED")))).toBe(true);
  expect(isDatabaseUnavailable(onConnections(new AppError("NOT_FOUND")))).toBe(false);
});
