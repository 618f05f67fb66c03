/** For tests of the repository's check scripts: write a scratch tree, run a script over it as CI does. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Runs `bun script ...args` and returns its exit code with stdout and stderr together. */
export async function runScript(
  script: string,
  args: readonly string[],
): Promise<{ exitCode: number; output: string }> {
  const child = Bun.spawn(["bun", script, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { exitCode: await child.exited, output: stdout + stderr };
}

/** Writes each file of `files` (path → text) under `root`, making folders as needed. */
export function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}
