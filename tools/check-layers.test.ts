/** `bun run check:layers` fails on a folder-level import cycle and names the files that make it. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runScript, writeTree } from "../test/script-run.ts";

const SCRIPT = join(import.meta.dir, "check-layers.ts");
// A bun process per run: seconds on a loaded machine.
const RUN_TIMEOUT_MS = 30_000;
const checkLayers = (dir?: string) => runScript(SCRIPT, dir === undefined ? [] : [dir]);
const scratch = mkdtempSync(join(tmpdir(), "check-layers-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

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
