/** db:backup and db:restore refuse what would fail later or silently: an old client, a bad archive, no server. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runScript } from "../test/script-run.ts";
import { verifyChecksum } from "./db-restore.ts";
import { assertClientNotOlder, connectionFor, majorOfClient } from "./pg-client.ts";

const folder = mkdtempSync(join(tmpdir(), "rampart-backup-"));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

test("the client's major version is read from its --version line", () => {
  expect(majorOfClient("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)")).toBe(15);
  expect(majorOfClient("pg_restore (PostgreSQL) 17.2")).toBe(17);
  expect(majorOfClient("pg_dump (PostgreSQL) 18beta1")).toBe(18);
  expect(majorOfClient("not a version")).toBeUndefined();
});

test("a client older than the server's major version is refused with what to install", () => {
  expect(() => assertClientNotOlder("pg_dump", 15, 17)).toThrow(
    "pg_dump 15 is older than the server (PostgreSQL 17): install the client of version 17 or newer",
  );
  expect(() => assertClientNotOlder("pg_dump", 17, 15)).not.toThrow();
  expect(() => assertClientNotOlder("pg_restore", 15, 15)).not.toThrow();
});

test("the password leaves the URL for PGPASSWORD", () => {
  expect(connectionFor("postgres://app:s%40cret@db.example.com:5432/app")).toEqual({
    url: "postgres://app@db.example.com:5432/app",
    env: { PGPASSWORD: "s@cret" },
  });
});

test("a restore refuses an archive without its checksum file, or one that does not match it", async () => {
  const file = join(folder, "app.dump");
  writeFileSync(file, "archive bytes");
  await expect(verifyChecksum(file)).rejects.toThrow("refusing an unverified restore");
  writeFileSync(`${file}.sha256`, `${"0".repeat(64)}  app.dump\n`);
  await expect(verifyChecksum(file)).rejects.toThrow("does not match its checksum");
  const digest = new Bun.CryptoHasher("sha256").update("archive bytes").digest("hex");
  writeFileSync(`${file}.sha256`, `${digest}  app.dump\n`);
  await verifyChecksum(file);
});

test("without DATABASE_URL, db:backup says what to set and exits 1", async () => {
  const { exitCode, output } = await runScript("tools/db-backup.ts", []);
  expect(exitCode).toBe(1);
  expect(output).toContain("db:backup needs DATABASE_URL (a PostgreSQL server)");
}, 30_000);
