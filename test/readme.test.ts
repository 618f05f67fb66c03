/** The README's reference tables stay true to the code. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { envSchema } from "../lib/config/env.ts";
import { ERROR_CODES } from "../lib/errors/codes.ts";

const readme = readFileSync(join(import.meta.dir, "..", "README.md"), "utf8");

test("the error-code table lists every code with its status and message", () => {
  for (const [code, { status, message }] of Object.entries(ERROR_CODES)) {
    expect(readme).toContain(`| \`${code}\` | ${status} | ${message} |`);
  }
});

test("the configuration table lists every environment variable", () => {
  const names = envSchema.props.map((p) => String(p.key));
  expect(names.length).toBeGreaterThan(5);
  for (const name of names) expect(readme).toContain(`\`${name}\``);
});
