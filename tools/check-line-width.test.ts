/** `bun run lint` fails on a line over 120 columns in a wrapped folder and names it. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runScript, writeTree } from "../test/script-run.ts";

const SCRIPT = join(import.meta.dir, "check-line-width.ts");
// A bun process per run: seconds on a loaded machine.
const RUN_TIMEOUT_MS = 30_000;
const checkLineWidth = (root: string) => runScript(SCRIPT, [root]);
const scratch = mkdtempSync(join(tmpdir(), "check-line-width-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

test(
  "a 121-column line in a checked folder fails and is named; 120 columns, or a folder outside them, passes",
  async () => {
    const root = join(scratch, "tree");
    writeTree(root, {
      "test/ok.ts": `// ${"x".repeat(117)}\n`,
      "lib/db/wide.ts": `const a = 1;\n// ${"x".repeat(118)}\n`,
      "functions/wide.ts": `// ${"x".repeat(200)}\n`,
      "lib/node_modules/dep/unchecked.ts": `// ${"x".repeat(200)}\n`,
      "migrations/unchecked.ts": `// ${"x".repeat(200)}\n`,
    });
    const { exitCode, output } = await checkLineWidth(root);
    expect(exitCode).toBe(1);
    expect(output).toContain("lib/db/wide.ts:2 (121)");
    expect(output).toContain("functions/wide.ts:1 (203)");
    expect(output).not.toContain("ok.ts");
    expect(output).not.toContain("unchecked.ts");
  },
  RUN_TIMEOUT_MS,
);

test(
  "the repository's checked folders pass",
  async () => {
    const { exitCode, output } = await checkLineWidth(join(import.meta.dir, ".."));
    expect(output).toContain("No line over 120 columns");
    expect(exitCode).toBe(0);
  },
  RUN_TIMEOUT_MS,
);
