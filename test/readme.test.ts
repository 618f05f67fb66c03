/** The README's reference tables stay true to the code. */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { envSchema } from "../lib/config/env.ts";
import { ERROR_CODES } from "../lib/core/error-codes.ts";

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

/** The README's diff samples, as the project's files they change, applied: what the TypeScript samples build on. */
function filesChangedBySamples(): Map<string, string> {
  const changed = new Map<string, string>();
  for (const [, diff = ""] of readme.matchAll(/^```diff\n([\s\S]*?)^```$/gm)) {
    const lines = diff.split("\n");
    const path = lines[0]?.match(/^--- a\/(.+)$/)?.[1];
    if (path === undefined) throw new Error(`a README diff sample names no file: ${lines[0]}`);
    const file = join(ROOT, path);
    let text = changed.get(file) ?? readFileSync(file, "utf8");
    const removed = lines.filter((line) => /^-(?!--)/.test(line)).map((line) => line.slice(1));
    const added = lines.filter((line) => /^\+(?!\+\+)/.test(line)).map((line) => line.slice(1));
    const before = removed.join("\n");
    if (!text.includes(before)) throw new Error(`${path} no longer has the lines its README diff removes`);
    text = text.replace(before, added.join("\n"));
    changed.set(file, text);
  }
  return changed;
}

test(
  "every TypeScript sample compiles against the project, with the README's diff samples applied",
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
      const host = ts.createCompilerHost(options);
      const changed = filesChangedBySamples();
      expect(changed.size).toBeGreaterThan(0);
      const readFile = host.readFile.bind(host);
      host.readFile = (file) => changed.get(file) ?? readFile(file);
      const program = ts.createProgram(files, options, host);
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
