/** `bun run check:layers` fails on a folder-level import cycle and names the files that make it. */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPT = join(import.meta.dir, "check-layers.ts");
// A bun process per run: seconds on a loaded machine.
const RUN_TIMEOUT_MS = 30_000;
const scratch = mkdtempSync(join(tmpdir(), "check-layers-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function checkLayers(dir?: string): Promise<{ exitCode: number; output: string }> {
  const child = Bun.spawn(["bun", SCRIPT, ...(dir === undefined ? [] : [dir])], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { exitCode: await child.exited, output: stdout + stderr };
}

function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

test(
  "a cycle between two folders fails and names the importing files",
  async () => {
    const root = join(scratch, "cycle");
    writeTree(root, {
      "http/route-policy.ts":
        `import type { Scope } from ` + `"../auth/scopes.ts";\nexport type Policy = { scopes: ` + `Scope[] };\n`,
      "auth/scopes.ts": `export type Scope = string;\n`,
      "auth/authenticate.ts":
        `import type { Policy } from "../http/route-policy.ts";\nexport const p: Policy | undefined = ` +
        `undefined;\n`,
      "auth/authenticate.test.ts": `import "../core/anything.ts";\n`,
      "core/caller.ts": `export type Caller = { id: string };\n`,
    });
    const { exitCode, output } = await checkLayers(root);
    expect(exitCode).toBe(1);
    expect(output).toContain("cycle 1: auth, http");
    expect(output).toContain("auth -> http: auth/authenticate.ts");
    expect(output).toContain("http -> auth: http/route-policy.ts");
  },
  RUN_TIMEOUT_MS,
);

test(
  "folders that only import downwards pass",
  async () => {
    const root = join(scratch, "layered");
    writeTree(root, {
      "core/caller.ts": `export type Caller = { id: string };\n`,
      "auth/authenticate.ts":
        `import type { Caller } from "../core/caller.ts";\nexport ` + `const c: Caller | undefined = undefined;\n`,
      "http/app.ts":
        `import { c } from "../auth/authenticate.ts";\nexport const loaded = import("../core/caller.ts").then(() ` +
        `=> c);\n`,
    });
    const { exitCode, output } = await checkLayers(root);
    expect(output).toContain("No folder-level import cycle");
    expect(exitCode).toBe(0);
  },
  RUN_TIMEOUT_MS,
);

test(
  "lib/ has no folder-level import cycle",
  async () => {
    const { exitCode, output } = await checkLayers();
    expect(output).toContain("No folder-level import cycle");
    expect(exitCode).toBe(0);
  },
  RUN_TIMEOUT_MS,
);
