import { describe, expect, test } from "bun:test";
import { DrizzleQueryError } from "drizzle-orm";
import { REDACTED, redact } from "./redact.ts";

describe("redact", () => {
  test("replaces secret-named fields at any depth", () => {
    const out = redact({ user: "ana", password: "p4ss", nested: { apiKey: "rk_1", headers: { authorization: "Bearer x", Cookie: "s=1" } } });
    expect(out).toEqual({ user: "ana", password: REDACTED, nested: { apiKey: REDACTED, headers: { authorization: REDACTED, Cookie: REDACTED } } });
  });

  test("removes credentials from connection strings and bearer tokens inside text", () => {
    expect(redact("connect postgres://admin:hunter2@db:5432/app failed")).toBe(`connect postgres://admin:${REDACTED}@db:5432/app failed`);
    expect(redact("sent Bearer eyJhbGciOi.abc.def")).toBe(`sent Bearer ${REDACTED}`);
  });

  test("errors are reduced to name and redacted message", () => {
    expect(redact(new Error("bad postgres://u:pw@h/db"))).toEqual({ name: "Error", message: `bad postgres://u:${REDACTED}@h/db` });
  });

  test("a failed query keeps its SQL and its cause but not its parameters", () => {
    const failed = new DrizzleQueryError('select * from "users" where "email" = $1', ["someone@example.com"], Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" }));
    const redacted = JSON.stringify(redact({ error: failed }));
    expect(redacted).not.toContain("someone@example.com");
    expect(redact(failed)).toEqual({ name: "Error", query: 'select * from "users" where "email" = $1', cause: { name: "Error", message: "connection refused" } });
  });
});
