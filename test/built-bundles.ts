/**
 * The deployment bundles, built once per test run and shared by every test that loads one: a build
 * bundles each route group and takes seconds, many on a loaded machine.
 */
import { readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { buildDenoBundle } from "../tools/build-deno.ts";
import { VERCEL_OUTPUT_DIR } from "../tools/build-vercel.ts";

const ROOT = join(import.meta.dir, "..");

export interface VercelBuild {
  readonly exitCode: number;
  readonly stderr: string;
  /** The function names under VERCEL_OUTPUT_DIR, one per route group. */
  readonly functions: readonly string[];
}

let vercel: Promise<VercelBuild> | undefined;
let deno: Promise<string> | undefined;

/** `bun run build`, as a user runs it, with no TRUST_PROXY in its environment. */
export function builtVercelOutput(): Promise<VercelBuild> {
  vercel ??= (async () => {
    const build = Bun.spawn(["bun", "run", "build"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      stdout: "ignore",
      stderr: "pipe",
    });
    const stderr = await new Response(build.stderr).text();
    const exitCode = await build.exited;
    const functions =
      exitCode === 0 ? readdirSync(join(VERCEL_OUTPUT_DIR, "functions")).map((dir) => basename(dir, ".func")) : [];
    return { exitCode, stderr, functions };
  })();
  return vercel;
}

/** The path of the Deno Deploy bundle. */
export function builtDenoBundle(): Promise<string> {
  deno ??= buildDenoBundle();
  return deno;
}
