/** The README's typed-client sample compiles against types openapi-typescript generates from openapi.json. */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";

const ROOT = join(import.meta.dir, "..");
// Generating and type-checking take a few seconds, many more on a loaded machine.
const TYPECHECK_TIMEOUT_MS = 120_000;

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const clientSample = /^```typescript\n([\s\S]*?)^```$/m.exec(readme)?.[1] ?? "";

function diagnosticsOf(dir: string, sample: string): string[] {
  const file = join(dir, "client.ts");
  writeFileSync(file, sample);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2023.d.ts", "lib.dom.d.ts"],
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    types: [],
  };
  const program = ts.createProgram([file], options);
  return ts
    .getPreEmitDiagnostics(program)
    .map(
      (d) => `${d.file?.fileName.slice(dir.length + 1) ?? ""}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`,
    );
}

test(
  "the README's client compiles against the generated types, which refuse a scope the API does not have",
  async () => {
    expect(clientSample).toContain('from "./rampart-api.ts"');
    const dir = mkdtempSync(join(tmpdir(), "rampart-client-"));
    try {
      const document = readFileSync(join(ROOT, "openapi.json"), "utf8");
      writeFileSync(join(dir, "rampart-api.ts"), astToString(await openapiTS(document)));
      expect(diagnosticsOf(dir, clientSample)).toEqual([]);
      const misspelt = clientSample.replace('scopes: ["keys:read"]', 'scopes: ["keys:wirte"]');
      expect(misspelt).not.toBe(clientSample);
      expect(diagnosticsOf(dir, misspelt).join("\n")).toContain('"keys:wirte"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TYPECHECK_TIMEOUT_MS,
);
