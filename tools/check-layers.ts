/**
 * Fails on an import cycle between the folders of lib/: each folder must be a layer that only imports
 * folders below it. Usage: `bun tools/check-layers.ts [dir]` (default lib/); exits 1 and prints each cycle.
 */

import { dirname, join, relative, resolve, sep } from "node:path";
import { Glob } from "bun";

/** An edge between two folders, with the files whose imports make it. */
export interface FolderEdge {
  from: string;
  to: string;
  files: string[];
}

// Static, type-only, re-export, side-effect and dynamic imports all tie the folders together.
const IMPORT_SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm;

/** The first folder under `root` that `file` sits in, or undefined for a file directly in `root`. */
function folderOf(root: string, file: string): string | undefined {
  const parts = relative(root, file).split(sep);
  return parts.length > 1 ? parts[0] : undefined;
}

/** Every folder-to-folder import under `root`, tests excluded, keyed by `from -> to`. */
export async function folderEdges(root: string): Promise<Map<string, FolderEdge>> {
  const edges = new Map<string, FolderEdge>();
  for await (const path of new Glob("**/*.ts").scan({ cwd: root })) {
    if (path.endsWith(".test.ts")) continue;
    const file = join(root, path);
    const from = folderOf(root, file);
    for (const [, specifier] of (await Bun.file(file).text()).matchAll(IMPORT_SPECIFIER)) {
      if (!specifier?.startsWith(".")) continue;
      const target = resolve(dirname(file), specifier);
      const to = target.startsWith(root + sep) ? folderOf(root, target) : undefined;
      if (from === undefined || to === undefined || from === to) continue;
      const key = `${from} -> ${to}`;
      const edge = edges.get(key) ?? { from, to, files: [] };
      edge.files.push(path);
      edges.set(key, edge);
    }
  }
  return edges;
}

/** Tarjan's strongly connected components; every component of more than one folder is a cycle. */
export function cyclicComponents(edges: Iterable<FolderEdge>): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    next.set(from, [...(next.get(from) ?? []), to]);
    if (!next.has(to)) next.set(to, []);
  }
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    lowLink.set(node, index.size - 1);
    stack.push(node);
    onStack.add(node);
    for (const target of next.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        lowLink.set(node, Math.min(lowLink.get(node) ?? 0, lowLink.get(target) ?? 0));
      } else if (onStack.has(target)) {
        lowLink.set(node, Math.min(lowLink.get(node) ?? 0, index.get(target) ?? 0));
      }
    }
    if (lowLink.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop() as string;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) components.push(component.sort());
  };
  for (const node of [...next.keys()].sort()) if (!index.has(node)) visit(node);
  return components;
}

/** One report line per edge inside each cycle, naming the files that import across it. */
export function describeCycles(edges: Map<string, FolderEdge>, components: string[][]): string[] {
  return components.flatMap((component, i) => [
    `cycle ${i + 1}: ${component.join(", ")}`,
    ...[...edges.values()]
      .filter(({ from, to }) => component.includes(from) && component.includes(to))
      .sort((a, b) => `${a.from} ${a.to}`.localeCompare(`${b.from} ${b.to}`))
      .map(({ from, to, files }) => `  ${from} -> ${to}: ${[...new Set(files)].sort().join(", ")}`),
  ]);
}

if (import.meta.main) {
  const root = resolve(process.argv[2] ?? join(import.meta.dir, "..", "lib"));
  const edges = await folderEdges(root);
  const components = cyclicComponents(edges.values());
  if (components.length > 0) {
    console.error(`Folder-level import cycles in ${relative(process.cwd(), root) || "."}:`);
    for (const line of describeCycles(edges, components)) console.error(line);
    process.exit(1);
  }
  console.log(`No folder-level import cycle in ${relative(process.cwd(), root) || "."} (${edges.size} edges).`);
}
