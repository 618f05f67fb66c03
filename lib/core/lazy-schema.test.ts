import { expect, test } from "bun:test";
import { type } from "arktype";
import { lazySchema } from "./lazy-schema.ts";

// Elysia infers a route's body and params from `~standard.types`: the lazy schema must carry arktype's own.
const eager = type({ "+": "reject", orgId: "string.uuid", "limit?": type("string.integer.parse").to("number > 0") });
const lazy = lazySchema(({ type }) =>
  type({ "+": "reject", orgId: "string.uuid", "limit?": type("string.integer.parse").to("number > 0") }),
);
type Inferred<S extends { "~standard": { types?: { input: unknown; output: unknown } } }> = NonNullable<
  S["~standard"]["types"]
>;
const sameTypes: [Inferred<typeof lazy>, Inferred<typeof eager>] extends [Inferred<typeof eager>, Inferred<typeof lazy>]
  ? true
  : false = true;

test("a lazy schema validates, renders and is called exactly as its arktype type", () => {
  expect(sameTypes).toBe(true);
  for (const value of [
    { orgId: crypto.randomUUID(), limit: "5" },
    { orgId: "x" },
    { orgId: crypto.randomUUID(), a: 1 },
  ]) {
    expect(JSON.stringify(lazy["~standard"].validate(value))).toBe(JSON.stringify(eager["~standard"].validate(value)));
    expect(String(lazy(value))).toBe(String(eager(value)));
  }
  const target = { target: "draft-2020-12" } as const;
  expect(lazy["~standard"].jsonSchema.input(target)).toEqual(eager["~standard"].jsonSchema.input(target));
});

// A fresh process has a fresh module registry; arktype marks its load with globalThis.$ark.
const COLD_IMPORT = `
const modules = ["admin", "audit", "auth", "keys", "orgs", "webhook-endpoints", "webhook-sources", "webhooks"];
for (const name of modules) await import(\`./functions/\${name}.ts\`);
const atImport = "$ark" in globalThis;
const { default: auth } = await import("./functions/auth.ts");
const { createServerlessApp } = await import("./lib/serverless/serverless-app.ts");
const { loadConfig } = await import("./lib/config/config.ts");
const app = createServerlessApp(loadConfig({ NODE_ENV: "test" }), [auth]);
const response = await app.fetch(
  new Request("http://localhost/v1/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "not an address", password: "x" }),
  }),
);
const { error } = await response.json();
const result = { atImport, status: response.status, code: error.code, fields: error.details.fields };
console.log("RESULT " + JSON.stringify(result));
// The runtime's database and timers would keep the process alive.
process.exit(0);
`;

test("importing the functions that validate input loads no arktype; their first request still validates", async () => {
  const child = Bun.spawn([process.execPath, "-e", COLD_IMPORT], {
    cwd: `${import.meta.dir}/../..`,
    stderr: "inherit",
  });
  const output = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  // The runtime logs to stdout too; the answer is the line marked RESULT.
  const result = output.split("\n").find((line) => line.startsWith("RESULT "));
  expect(JSON.parse(result?.slice("RESULT ".length) ?? "null")).toEqual({
    atImport: false,
    status: 422,
    code: "VALIDATION_FAILED",
    fields: [{ path: "email", message: expect.stringContaining("email") }],
  });
}, 120_000);
