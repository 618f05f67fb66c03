/** The deployment artefacts are real bundles that answer requests, built from functions/ alone. */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEDULED_JOBS } from "../lib/cron/registry.ts";
import { builtDenoBundle, builtVercelOutput } from "../test/built-bundles.ts";
import { trustProxyWarning, VERCEL_OUTPUT_DIR } from "./build-vercel.ts";
import { routeGroupFiles } from "./route-groups.ts";

// Bundling every route group (once per run, shared) and loading a bundle take seconds, tens on a loaded machine.
const BUNDLE_TEST_TIMEOUT_MS = 90_000;

type Handler = (request: Request, info: { remoteAddr: { hostname: string } }) => Promise<Response>;
type VercelHandler = (request: Request, context?: unknown) => Promise<Response>;

describe("Vercel build output", () => {
  test(
    "`bun run build` warns when TRUST_PROXY is not vercel, and is quiet when it is",
    async () => {
      const { exitCode, stderr } = await builtVercelOutput();
      expect(exitCode).toBe(0);
      expect(stderr).toContain(
        'warning: TRUST_PROXY is not set, not vercel: behind Vercel every caller would share one "unknown" ' +
          "client address",
      );
      expect(stderr).toContain("Set TRUST_PROXY=vercel");
      expect(trustProxyWarning({ TRUST_PROXY: "1" })).toContain('TRUST_PROXY is "1", not vercel');
      expect(trustProxyWarning({ TRUST_PROXY: "vercel" })).toBeUndefined();
    },
    BUNDLE_TEST_TIMEOUT_MS,
  );

  test(
    "one Bun function per route group, routed by path, with the cron schedules and no static files",
    async () => {
      const { functions } = await builtVercelOutput();
      expect(functions.length).toBe(routeGroupFiles().length);
      expect(existsSync(join(VERCEL_OUTPUT_DIR, "static"))).toBe(false);
      const config = JSON.parse(readFileSync(join(VERCEL_OUTPUT_DIR, "config.json"), "utf8")) as {
        version: number;
        routes: { src: string; dest: string }[];
        crons: { path: string; schedule: string }[];
      };
      expect(config.version).toBe(3);
      for (const route of config.routes) expect(functions).toContain(route.dest.slice(1));
      const destinationOf = (path: string) => config.routes.find((r) => new RegExp(r.src).test(path))?.dest;
      expect(destinationOf("/health/ready")).toBe("/health");
      expect(destinationOf("/cron/prune-job-runs")).toBe("/cron");
      expect(destinationOf("/functions/health.ts")).toBe("/health");
      expect(config.crons).toEqual(
        SCHEDULED_JOBS.map((job) => ({ path: `/cron/${job.name}`, schedule: job.schedule })),
      );
      for (const name of functions) {
        const dir = join(VERCEL_OUTPUT_DIR, "functions", `${name}.func`);
        // Browser assets ship beside their own page's function and no other: the docs page's 4.7 MB bundle,
        // the status page's uPlot and its own script and stylesheet. Beside index.mjs only its own chunks,
        // loaded on demand.
        const files = readdirSync(dir)
          .filter((file) => !/^[\w-]+-\w{8}\.mjs$/.test(file))
          .sort();
        if (name === "docs")
          expect(files).toEqual([".vc-config.json", "index.mjs", expect.stringMatching(/^standalone-/)]);
        else if (name === "status")
          expect(files.map((file) => file.replace(/-[a-z0-9]{8}\./, "."))).toEqual([
            ".vc-config.json",
            "index.mjs",
            "status-page.css",
            "status-page.js",
            "uPlot.iife.min.js",
            "uPlot.min.css",
          ]);
        else expect(files).toEqual([".vc-config.json", "index.mjs"]);
        expect(JSON.parse(readFileSync(join(dir, ".vc-config.json"), "utf8"))).toMatchObject({
          runtime: "bun1.x",
          handler: "index.mjs",
        });
      }
    },
    BUNDLE_TEST_TIMEOUT_MS,
  );

  test(
    "a bundled function answers with the pipeline's headers and envelope",
    async () => {
      await builtVercelOutput();
      const bundle = (await import(join(VERCEL_OUTPUT_DIR, "functions", "health.func", "index.mjs"))) as {
        default: { fetch: VercelHandler };
        GET: VercelHandler;
      };
      // The platform may hand the handler a second argument of its own; it is not a peer address.
      const live = await bundle.default.fetch(new Request("https://api.example.com/health/live"), {
        waitUntil: () => {},
      });
      expect(live.status).toBe(200);
      expect(live.headers.get("x-request-id")).toBeTruthy();
      const missing = await bundle.GET(new Request("https://api.example.com/src/lib/config.ts"));
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    },
    BUNDLE_TEST_TIMEOUT_MS,
  );
});

describe("Deno Deploy bundle", () => {
  test(
    "serves the apps with Deno.serve and registers every schedule with Deno.cron",
    async () => {
      const bundle = await builtDenoBundle();
      const crons: { name: string; schedule: string }[] = [];
      let served: Handler | undefined;
      (globalThis as { Deno?: unknown }).Deno = {
        env: { toObject: () => ({ NODE_ENV: "test" }) },
        serve: (handler: Handler) => {
          served = handler;
        },
        cron: async (name: string, schedule: string) => {
          crons.push({ name, schedule });
        },
      };
      try {
        await import(bundle);
      } finally {
        delete (globalThis as { Deno?: unknown }).Deno;
      }
      expect(crons).toEqual(SCHEDULED_JOBS.map((job) => ({ name: job.name, schedule: job.schedule })));
      if (served === undefined) throw new Error("Deno.serve was not called");
      const live = await served(new Request("https://rampart.deno.dev/health/live"), {
        remoteAddr: { hostname: "203.0.113.9" },
      });
      expect(live.status).toBe(200);
    },
    BUNDLE_TEST_TIMEOUT_MS,
  );
});
