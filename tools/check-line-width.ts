/**
 * Fails on a .ts line wider than 120 columns: Biome's formatter keeps code
 * within its lineWidth but leaves long comments and strings as they are, and it has no lint rule for them.
 * Usage: `bun tools/check-line-width.ts [root]` (default the repository); exits 1 and prints each line.
 */
import { join, relative, resolve } from "node:path";
import { Glob } from "bun";

export const MAX_LINE_WIDTH = 120;
// Every folder of TypeScript in the repository.
export const CHECKED_FOLDERS = ["bench", "dev", "functions", "lib", "test", "tools"] as const;

/** `path:line (width)` for every line over MAX_LINE_WIDTH in a .ts file under the checked folders of `root`. */
export async function wideLines(root: string, folders: readonly string[] = CHECKED_FOLDERS): Promise<string[]> {
  const found: string[] = [];
  for (const folder of folders) {
    for await (const path of new Glob(`${folder}/**/*.ts`).scan({ cwd: root })) {
      if (path.includes("node_modules/")) continue;
      const lines = (await Bun.file(join(root, path)).text()).split("\n");
      lines.forEach((line, i) => {
        if (line.length > MAX_LINE_WIDTH) found.push(`${path}:${i + 1} (${line.length})`);
      });
    }
  }
  return found.sort();
}

if (import.meta.main) {
  const root = resolve(process.argv[2] ?? join(import.meta.dir, ".."));
  const found = await wideLines(root);
  if (found.length > 0) {
    console.error(`Lines over ${MAX_LINE_WIDTH} columns in ${relative(process.cwd(), root) || "."}:`);
    for (const line of found) console.error(`  ${line}`);
    process.exit(1);
  }
  console.log(`No line over ${MAX_LINE_WIDTH} columns in ${CHECKED_FOLDERS.join(", ")}.`);
}
