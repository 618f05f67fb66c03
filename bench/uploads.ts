/**
 * Uploads. (1) Reserve + PUT + complete per second through the HTTP app on real PostgreSQL (TEST_POSTGRES_URL,
 * postgres.js), with s3rver as the bucket, beside the same flow on the embedded storage: the two take turns in
 * each of UPLOAD_BENCH_ROUNDS rounds, UPLOAD_BENCH_FILES uploads each, 8 at a time. (2) A 12 MiB upload through
 * the embedded storage's signed PUT in a process of its own (bench/uploads-stream-server.ts), its peak RSS
 * growth beside the same server reading the body whole first. Medians over rounds, with ranges. Writes
 * bench/results/uploads.txt.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { orgRoutes } from "../functions/orgs.ts";
import { uploadRoutes } from "../functions/uploads.ts";
import { buildApp } from "../lib/http/app.ts";
import type { EmbeddedStorage } from "../lib/storage/embedded-storage.ts";
import { createEmbeddedStorageHandler } from "../lib/storage/embedded-url.ts";
import { storageFor } from "../lib/storage/runtime-storage.ts";
import { openTestRuntime, TEST_POSTGRES_URL } from "../test/backends.ts";
import { ADMIN_TOKEN, identityClient } from "../test/identity-client.ts";
import { startS3StandIn } from "../test/s3-stand-in.ts";

const ROUNDS = Math.max(2, Number(process.env.UPLOAD_BENCH_ROUNDS ?? 5));
const FILES = Number(process.env.UPLOAD_BENCH_FILES ?? 100);
const CONCURRENCY = 8;
const LARGE_MIB = 12;
const RESULTS_FILE = join(import.meta.dir, "results", "uploads.txt");
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "base64",
);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const range = (values: number[], digits = 1) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
const lines: string[] = [];
const say = (line: string) => {
  console.log(line);
  lines.push(line);
};

async function uploadsPerSecond(): Promise<void> {
  if (TEST_POSTGRES_URL === undefined) {
    say("reserve + complete: skipped (TEST_POSTGRES_URL is not set; see .ci/start-services)");
    return;
  }
  const standIn = await startS3StandIn("bench");
  const s3 = standIn.config;
  const dir = mkdtempSync(join(tmpdir(), "bench-embedded-"));
  let handle = async (_: Request) => new Response(null, { status: 503 });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => handle(request) });
  const env = { TRUST_PROXY: "1", ADMIN_TOKEN, DATABASE_DRIVER: "postgres" };
  const s3Env = {
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
  const embeddedEnv = { STORAGE_DIR: dir, STORAGE_EMBEDDED_URL: `http://127.0.0.1:${server.port}` };
  const subjects = await Promise.all(
    [
      ["s3rver", s3Env],
      ["embedded", embeddedEnv],
    ].map(async ([name, storageEnv]) => {
      const runtime = await openTestRuntime({ database: "postgres", env: { ...env, ...(storageEnv as object) } });
      const app = buildApp(runtime, [orgRoutes(), uploadRoutes()]);
      const client = identityClient(runtime, app);
      const owner = await client.createUser();
      const orgId = await client.createOrg(owner);
      // Each key may write 120 times a minute: enough keys that the bench never meets the limit.
      const keys = await Promise.all(
        Array.from({ length: 40 }, () => client.issueKey(owner, orgId, { scopes: ["uploads:write"] })),
      );
      return { name: name as string, runtime, client, orgId, keys };
    }),
  );
  const embeddedStorage = await storageFor(subjects[1]?.runtime ?? ({} as never));
  handle = createEmbeddedStorageHandler(embeddedStorage as EmbeddedStorage);
  let serial = 0;
  const uploadOne = async (subject: (typeof subjects)[number]) => {
    const n = ++serial;
    const bytes = Buffer.concat([PNG, Buffer.from(`#${n}#${crypto.randomUUID()}`)]);
    const token = subject.keys[n % subject.keys.length]?.key;
    const body = {
      filename: `f${n}.png`,
      contentType: "image/png",
      size: bytes.length,
      sha256: createHash("sha256").update(bytes).digest("base64"),
    };
    const reserved = await subject.client.expectJson<{
      upload: { id: string };
      put: { url: string; headers: Record<string, string> };
    }>(await subject.client.call("POST", `/v1/orgs/${subject.orgId}/uploads`, { token, body }), 201);
    const put = await fetch(reserved.put.url, { method: "PUT", headers: reserved.put.headers, body: bytes });
    if (put.status !== 200) throw new Error(`PUT answered ${put.status}`);
    const path = `/v1/orgs/${subject.orgId}/uploads/${reserved.upload.id}/complete`;
    await subject.client.expectJson(await subject.client.call("POST", path, { token }), 200);
  };
  const rates = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const subject of round % 2 === 0 ? subjects : [...subjects].reverse()) {
      const started = performance.now();
      for (let done = 0; done < FILES; done += CONCURRENCY)
        await Promise.all(Array.from({ length: Math.min(CONCURRENCY, FILES - done) }, () => uploadOne(subject)));
      rates.get(subject.name)?.push(FILES / ((performance.now() - started) / 1000));
    }
  }
  for (const [name, values] of rates)
    say(
      `reserve + PUT + complete on PostgreSQL, ${name.padEnd(8)}: ${median(values).toFixed(0)}/s (${range(values, 0)})`,
    );
  for (const subject of subjects) await subject.runtime.close();
  await server.stop(true);
  await standIn.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** Peak RSS growth of the storage process while one upload of `mib` MiB goes through it. */
async function peakGrowthMiB(mode: "streamed" | "buffered", mib: number, dir: string): Promise<number> {
  const file = join(dir, `large-${mib}.pdf`);
  const bytes = new Uint8Array(mib * 1024 * 1024).map((_, i) => i % 251);
  writeFileSync(file, bytes);
  const sha256 = createHash("sha256").update(bytes).digest("base64");
  const child = Bun.spawn(
    ["bun", join(import.meta.dir, "uploads-stream-server.ts"), String(bytes.length), sha256, mode],
    { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const nextLine = async () => {
    while (!buffer.includes("\n")) buffer += (await reader.read()).value ?? "";
    const [line = "", ...rest] = buffer.split("\n");
    buffer = rest.join("\n");
    return line;
  };
  const put = JSON.parse(await nextLine()) as { url: string; headers: Record<string, string> };
  child.stdin.write("peak\n");
  const before = Number((await nextLine()).split(" ")[1]);
  const answer = await fetch(put.url, { method: "PUT", headers: put.headers, body: Bun.file(file) });
  if (answer.status !== 200) throw new Error(`PUT answered ${answer.status}: ${await answer.text()}`);
  child.stdin.write("peak\n");
  const after = Number((await nextLine()).split(" ")[1]);
  child.stdin.write("stop\n");
  await child.exited;
  return (after - before) / 1024;
}

async function streamingPeakRss(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-large-"));
  // A streamed body four times larger shows whether memory follows the body (buffering) or stays bounded.
  const cases = [
    ["streamed", LARGE_MIB],
    ["buffered", LARGE_MIB],
    ["streamed", 4 * LARGE_MIB],
  ] as const;
  const growth = cases.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
    for (const i of order) {
      const [mode, mib] = cases[i] ?? cases[0];
      growth[i]?.push(await peakGrowthMiB(mode, mib, dir));
    }
  }
  cases.forEach(([mode, mib], i) => {
    const values = growth[i] ?? [];
    const peak = `peak RSS +${median(values).toFixed(1)} MiB (${range(values)})`;
    say(`${mib} MiB upload through the embedded storage, ${mode}: ${peak}`);
  });
  rmSync(dir, { recursive: true, force: true });
}

say(`uploads bench, ${new Date().toISOString()}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1))}`);
say(`${ROUNDS} rounds, alternating; ${FILES} uploads a round, ${CONCURRENCY} at a time`);
await streamingPeakRss();
await uploadsPerSecond();
await Bun.write(RESULTS_FILE, `${lines.join("\n")}\n`);
