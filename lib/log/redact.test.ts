import { describe, expect, test } from "bun:test";
import { PGlite } from "@electric-sql/pglite";
import { DrizzleQueryError } from "drizzle-orm";
import { pgliteTemplate } from "../../test/pglite-template.ts";
import { pathRedactor, REDACTED, redact, redactRecord } from "./redact.ts";

describe("redact", () => {
  test("replaces secret-named fields at any depth", () => {
    const out = redact({
      user: "ana",
      password: "p4ss",
      nested: { apiKey: "rk_1", headers: { authorization: "Bearer x", Cookie: "s=1" } },
    });
    expect(out).toEqual({
      user: "ana",
      password: REDACTED,
      nested: { apiKey: REDACTED, headers: { authorization: REDACTED, Cookie: REDACTED } },
    });
  });

  test("removes credentials from connection strings and bearer tokens inside text", () => {
    expect(redact("connect postgres://admin:hunter2@db:5432/app failed")).toBe(
      `connect postgres://admin:${REDACTED}@db:5432/app failed`,
    );
    expect(redact("sent Bearer eyJhbGciOi.abc.def")).toBe(`sent Bearer ${REDACTED}`);
  });

  test("errors are reduced to name and redacted message", () => {
    expect(redact(new Error("bad postgres://u:pw@h/db"))).toEqual({
      name: "Error",
      message: `bad postgres://u:${REDACTED}@h/db`,
    });
  });

  test("a failed query keeps its SQL and its cause but not its parameters", () => {
    const failed = new DrizzleQueryError(
      'select * from "users" where "email" = $1',
      ["someone@example.com"],
      Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" }),
    );
    const redacted = JSON.stringify(redact({ error: failed }));
    expect(redacted).not.toContain("someone@example.com");
    expect(redact(failed)).toEqual({
      name: "Error",
      query: 'select * from "users" where "email" = $1',
      cause: { name: "Error", message: "connection refused" },
    });
  });

  test("a data exception from PostgreSQL keeps its code, not the value it repeats", async () => {
    const db = new PGlite({ loadDataDir: await pgliteTemplate() });
    const secret = "rk_live_7f3c9a1e5b2d4f6a8c0e";
    const error = await db.query("select $1::uuid", [secret]).then(
      () => undefined,
      (e: unknown) => e,
    );
    await db.close();
    expect(String((error as Error).message)).toContain(secret);
    const logged = JSON.stringify(
      redact({ error: new DrizzleQueryError("select $1::uuid", [secret], error as Error) }),
    );
    expect(logged).not.toContain(secret);
    expect(logged).toContain('"code":"22P02"');
  });

  test(
    "a constraint violation keeps its code, message and the names involved, never the detail with the key's " + "value",
    () => {
      const violation = Object.assign(
        new Error('duplicate key value violates unique constraint "users_email_unique"'),
        {
          name: "PostgresError",
          code: "23505",
          severity: "ERROR",
          detail: "Key (email)=(someone@example.com) already exists.",
          table_name: "users",
          constraint_name: "users_email_unique",
        },
      );
      expect(redact(violation)).toEqual({
        name: "PostgresError",
        code: "23505",
        message: 'duplicate key value violates unique constraint "users_email_unique"',
        table: "users",
        constraint: "users_email_unique",
      });
    },
  );

  test("pathRedactor replaces key-, bearer- and token-shaped segments and keeps words and ids", () => {
    const redactPath = pathRedactor({ apiKeyPrefix: "tk" });
    const readable = "/v1/orgs/0f8fad5b-d9cb-469f-a165-70867728950e/api_keys/user_settings/42/app.min.js";
    expect(redactPath(readable)).toBe(readable);
    expect(redactPath("/a/tk_short/b/rk_short")).toBe(`/a/${REDACTED}/b/rk_short`);
    expect(redactPath("/a/bearer%20x/b")).toBe(`/a/${REDACTED}/b`);
    expect(redactPath(`/a/${"Ab+c9".repeat(7)}==`)).toBe(`/a/${REDACTED}`);
    expect(redactPath("/a/eyJhbGciOiJub25lIn0.e30./b")).toBe(`/a/${REDACTED}/b`);
  });
});

describe("redactRecord", () => {
  test("gives what redact gives, for clean records and for each kind that needs redacting", () => {
    const records: Record<string, unknown>[] = [
      { requestId: "web-0001-0123abcd", method: "GET", route: "/v1/ping", status: 200, durationMs: 0.12 },
      { requestId: "r-12345678", token: "abc" },
      { url: "postgres://app:hunter2@db:5432/app" },
      { note: "sent Bearer eyJhbGciOiJFZERTQSJ9.e30.sig" },
      { nested: { password: "x" } },
      { list: ["postgres://a:b@h/d"] },
      Object.assign(Object.create({ inherited: "postgres://a:b@h/d" }), { own: 1 }),
    ];
    for (const record of records) expect(JSON.stringify(redactRecord(record))).toBe(JSON.stringify(redact(record)));
  });
});
