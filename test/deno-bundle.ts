/**
 * Runs the Deno Deploy bundle under real Deno (the npm distribution): a copy of it in an empty directory
 * with only --allow-net and --allow-env, as a deployment does, so nothing beside it resolves a package.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { builtDenoBundle } from "./built-bundles.ts";
import { freePort } from "./free-port.ts";
import { waitUntilLive } from "./spawned-servers.ts";

const ROOT = join(import.meta.dir, "..");

export interface RunningDenoBundle {
  readonly url: string;
  stop(): Promise<void>;
}

/** The Deno executable: the npm package's launcher puts it beside itself on first use. */
export async function denoExecutable(): Promise<string> {
  const exe = join(ROOT, "node_modules", "deno", "deno");
  if (!existsSync(exe)) {
    const first = Bun.spawn([join(ROOT, "node_modules", ".bin", "deno"), "--version"], {
      stdout: "ignore",
      stderr: "inherit",
    });
    if ((await first.exited) !== 0 || !existsSync(exe))
      throw new Error("the deno package did not install its executable");
  }
  return exe;
}

/** Starts the bundle on a free port with `env`; resolves once it answers. */
export async function startDenoBundle(env: Record<string, string>): Promise<RunningDenoBundle> {
  const port = freePort();
  const emptyDir = mkdtempSync(join(tmpdir(), "rampart-deno-"));
  copyFileSync(await builtDenoBundle(), join(emptyDir, "main.js"));
  const deno = Bun.spawn([await denoExecutable(), "run", "--allow-net", "--allow-env", join(emptyDir, "main.js")], {
    cwd: emptyDir,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      DENO_SERVE_ADDRESS: `tcp:127.0.0.1:${port}`,
      ...env,
    },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  const stop = async () => {
    deno.kill("SIGKILL");
    await deno.exited;
    rmSync(emptyDir, { recursive: true, force: true });
  };
  // Read as it comes, so a full pipe never stalls Deno; shown if it does not start.
  const stderr = new Response(deno.stderr).text();
  try {
    await waitUntilLive(port, 30_000);
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}\n${await stderr}`);
  }
  return { url: `http://127.0.0.1:${port}`, stop };
}
