import { expect, test } from "bun:test";
import { isDatabaseUnavailable } from "./database-unavailable.ts";

const withCode = (code: string) => Object.assign(new Error("from the server"), { code });

test("errors the server answered with do not mean it is unavailable", () => {
  for (const code of ["23505", "42601", "42P01", "22012", "40001", "57014", "P0001"]) expect(isDatabaseUnavailable(withCode(code))).toBe(false);
});

test("connection failures, resource exhaustion and shutdowns do", () => {
  for (const code of ["08006", "08001", "53300", "57P01", "57P03", "58030"]) expect(isDatabaseUnavailable(withCode(code))).toBe(true);
  for (const error of [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }), new Error("socket hang up"), new Error("timeout")]) {
    expect(isDatabaseUnavailable(error)).toBe(true);
  }
});

test("a SQLSTATE on the cause (a wrapped driver error) is read too", () => {
  expect(isDatabaseUnavailable(Object.assign(new Error("Failed query"), { cause: withCode("23505") }))).toBe(false);
  expect(isDatabaseUnavailable(Object.assign(new Error("Failed query"), { cause: withCode("08006") }))).toBe(true);
});
