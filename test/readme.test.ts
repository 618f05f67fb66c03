/** The README's reference tables stay true to the code. */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { envSchema } from "../lib/config/env.ts";
import { ERROR_CODES } from "../lib/errors/codes.ts";

const ROOT = join(import.meta.dir, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
// One TypeScript program over every sample and what it imports: seconds on a loaded machine.
const TYPECHECK_TIMEOUT_MS = 120_000;

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

test(
  "every TypeScript sample compiles against the project, as a file in functions/ would",
  () => {
    const samples = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? "");
    expect(samples.length).toBeGreaterThan(0);
    // A folder beside functions/, so the samples' ../lib/… imports and node_modules resolve as in a route file.
    const dir = mkdtempSync(join(ROOT, ".readme-samples-"));
    try {
      const files = samples.map((sample, i) => {
        const file = join(dir, `sample-${i + 1}.ts`);
        writeFileSync(file, sample);
        return file;
      });
      const tsconfig = ts.readConfigFile(join(ROOT, "tsconfig.json"), ts.sys.readFile);
      const { options } = ts.parseJsonConfigFileContent(tsconfig.config, ts.sys, ROOT);
      const program = ts.createProgram(files, options);
      // The samples' own diagnostics: the project itself is checked by `bun run typecheck`, and checking
      // every file the samples import again took most of this test's 49 s.
      const errors = [
        ...program.getOptionsDiagnostics(),
        ...program.getGlobalDiagnostics(),
        ...files.flatMap((file) => ts.getPreEmitDiagnostics(program, program.getSourceFile(file))),
      ].map(
        (d) =>
          `${d.file === undefined ? "" : `${d.file.fileName.slice(dir.length + 1)}: `}` +
          `${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`,
      );
      expect(errors).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TYPECHECK_TIMEOUT_MS,
);
