/**
 * The upload flow: reserve (declared name, type, size, digest; quota held), a presigned PUT the store checks
 * against them, then complete: the stored bytes are measured, hashed and sniffed, and any mismatch deletes them,
 * releases the quota and answers 422 with what was wrong. Steps in order:
 * 1. reserve: type allowed and size within its limit, quota reserved atomically, PUT URL for ≤ 300 s;
 * 2. complete (idempotent): size, then SHA-256 over the bytes read back, then the sniffed type of the first bytes;
 * 3. download: a presigned GET (≤ 300 s) forcing `attachment` and the stored type, from the store's origin.
 */

import { fileTypeFromBuffer } from "file-type";
import type { AuditEvent } from "../audit/audit-log.ts";
import { orgAuditTag } from "../cache/cache-tags.ts";
import { purgedAfter } from "../cache/purge-after-commit.ts";
import type { ErrorCode } from "../core/error-codes.ts";
import { AppError } from "../errors/app-error.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { MAX_PRESIGN_SECONDS, type ObjectStorage, type PresignedPut } from "../storage/object-storage.ts";
import { storageFor } from "../storage/runtime-storage.ts";
import {
  type DeclaredUpload,
  deleteUploadRow,
  findUpload,
  objectStillUsed,
  reserveUploadRow,
  settleUpload,
  type UploadRow,
  type UploadView,
  uploadView,
} from "./upload-records.ts";
import { checkDeclaredFile, DEFAULT_UPLOAD_TYPES, type UploadTypes } from "./upload-types.ts";

export interface UploadOptions {
  /** Allowed content types and each one's largest file. @default DEFAULT_UPLOAD_TYPES */
  types: UploadTypes;
  /** How long a presigned PUT or GET is valid; at most 300. @default 300 */
  presignSeconds: number;
  /** How long a reservation holds quota before `expire-uploads` releases it. @default 1 hour */
  reservationMs: number;
}

export const DEFAULT_UPLOAD_OPTIONS: UploadOptions = {
  types: DEFAULT_UPLOAD_TYPES,
  presignSeconds: MAX_PRESIGN_SECONDS,
  reservationMs: 3_600_000,
};

/** file-type needs no more than this to recognise any type it knows. */
const SNIFF_BYTES = 4100;

type Actor = AuditEvent["actor"];

/** The configured storage, or 503 naming what to set. */
export async function storageOf(runtime: Runtime): Promise<ObjectStorage> {
  const storage = await storageFor(runtime);
  if (storage === undefined)
    throw new AppError("DEPENDENCY_UNAVAILABLE", "No object storage is configured: set the S3_* variables.");
  return storage;
}

/** A store that fails or does not answer is 503, like the other dependencies. */
async function storageCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError("DEPENDENCY_UNAVAILABLE", "Object storage is unavailable.", undefined, { "retry-after": "5" });
  }
}

export async function reserveUpload(
  runtime: Runtime,
  orgId: string,
  actor: Actor,
  declared: DeclaredUpload,
  request: Request,
  options: UploadOptions,
): Promise<{ upload: UploadView; put: PresignedPut }> {
  checkDeclaredFile(options.types, declared.contentType, declared.size);
  const storage = await storageOf(runtime);
  const row = await reserve(runtime, orgId, actor, declared, request, options);
  const put = await storageCall(() =>
    storage.presignPut(row.objectKey, { ...declared, expiresInSeconds: options.presignSeconds }),
  );
  return { upload: uploadView(row), put };
}

function reserve(
  runtime: Runtime,
  orgId: string,
  actor: Actor,
  declared: DeclaredUpload,
  request: Request,
  options: UploadOptions,
): Promise<UploadRow> {
  const reservation = {
    orgId,
    actor,
    quotaBytes: runtime.config.uploadQuotaBytes,
    expiresAt: new Date(runtime.now() + options.reservationMs),
  };
  return purgedAfter(
    runtime,
    [orgAuditTag(orgId)],
    reserveUploadRow(runtime.db.primary, reservation, declared, request),
  );
}

/** What the stored bytes are: size, SHA-256 of all of them, and the type sniffed from the first ones. */
async function inspect(
  storage: ObjectStorage,
  key: string,
): Promise<{ size: number; sha256: string; sniffed?: string }> {
  const object = await storage.get(key);
  if (object === undefined) throw new AppError("UPLOAD_NOT_RECEIVED");
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  const head = new Uint8Array(SNIFF_BYTES);
  let size = 0;
  const reader = object.body.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    if (size < SNIFF_BYTES) head.set(read.value.subarray(0, SNIFF_BYTES - size), size);
    size += read.value.length;
    hash.update(read.value);
  }
  const sniffed = await fileTypeFromBuffer(head.subarray(0, Math.min(size, SNIFF_BYTES)));
  return { size, sha256: hash.digest("base64"), sniffed: sniffed?.mime };
}

/** The first check the stored bytes fail, or undefined when they are what was declared. */
function mismatchOf(row: UploadRow, found: { size: number; sha256: string; sniffed?: string }): ErrorCode | undefined {
  if (found.size !== row.size) return "UPLOAD_SIZE_MISMATCH";
  if (found.sha256 !== row.sha256) return "UPLOAD_DIGEST_MISMATCH";
  if (found.sniffed !== row.contentType) return "UPLOAD_TYPE_MISMATCH";
  return undefined;
}

export async function completeUpload(
  runtime: Runtime,
  orgId: string,
  uploadId: string,
  actor: Actor,
  request: Request,
): Promise<UploadView> {
  const storage = await storageOf(runtime);
  const row = await findUpload(runtime.db.primary, orgId, uploadId);
  if (row === undefined) throw new AppError("NOT_FOUND", "No such upload.");
  if (row.status !== "pending") return settledAnswer(row);
  const head = await storageCall(() => storage.head(row.objectKey));
  if (head === undefined) throw new AppError("UPLOAD_NOT_RECEIVED");
  // Too large to be what was declared: refused without reading it.
  const found =
    head.size !== row.size ? { ...head, sha256: "" } : await storageCall(() => inspect(storage, row.objectKey));
  const code = mismatchOf(row, found);
  const db = runtime.db.primary;
  if (code !== undefined) {
    await purgedAfter(
      runtime,
      [orgAuditTag(orgId)],
      settleUpload(db, row, { status: "rejected", code }, actor, request),
    );
    await deleteUnusedObject(runtime, storage, row);
    throw new AppError(code, undefined, {
      uploadId,
      declared: { size: row.size, sha256: row.sha256, contentType: row.contentType },
      found: { size: found.size, sha256: found.sha256 || undefined, contentType: found.sniffed ?? null },
    });
  }
  const ready = await purgedAfter(
    runtime,
    [orgAuditTag(orgId)],
    settleUpload(db, row, { status: "ready", nowMs: runtime.now() }, actor, request),
  );
  // Settled by a concurrent call meanwhile: answer what it decided.
  return ready === undefined ? settledAnswer((await findUpload(db, orgId, uploadId)) ?? row) : uploadView(ready);
}

/** Completing a settled upload again answers as the first completion did. */
function settledAnswer(row: UploadRow): UploadView {
  if (row.status === "ready") return uploadView(row);
  if (row.status === "rejected") throw new AppError((row.rejectedCode ?? "UPLOAD_TYPE_MISMATCH") as ErrorCode);
  throw new AppError("CONFLICT", "This upload's reservation expired; reserve it again.");
}

/** Deletes the upload's object unless another live upload of the same content still names it. */
async function deleteUnusedObject(runtime: Runtime, storage: ObjectStorage, row: UploadRow): Promise<void> {
  if (await objectStillUsed(runtime.db.primary, row.objectKey, row.id)) return;
  await storageCall(() => storage.delete(row.objectKey));
}

/** A file small enough for the request body: the same reservation and checks, with the bytes sent by the API. */
export async function uploadDirect(
  runtime: Runtime,
  orgId: string,
  actor: Actor,
  file: { filename: string; contentType: string; bytes: Uint8Array<ArrayBuffer> },
  request: Request,
  options: UploadOptions,
): Promise<UploadView> {
  const size = file.bytes.length;
  checkDeclaredFile(options.types, file.contentType, size);
  const storage = await storageOf(runtime);
  const sha256 = Buffer.from(await crypto.subtle.digest("SHA-256", file.bytes)).toString("base64");
  const declared = { filename: file.filename, contentType: file.contentType, size, sha256 };
  const row = await reserve(runtime, orgId, actor, declared, request, options);
  await storageCall(() => storage.put(row.objectKey, file.bytes, { contentType: file.contentType, sha256 }));
  return completeUpload(runtime, orgId, row.id, actor, request);
}

export async function downloadUpload(
  runtime: Runtime,
  orgId: string,
  uploadId: string,
  options: UploadOptions,
): Promise<{ url: string; expiresAt: string }> {
  const storage = await storageOf(runtime);
  const row = await findUpload(runtime.db.primary, orgId, uploadId);
  if (row === undefined || row.status !== "ready") throw new AppError("NOT_FOUND", "No such upload.");
  const url = await storageCall(() =>
    storage.presignGet(row.objectKey, {
      contentType: row.contentType,
      filename: row.filename,
      expiresInSeconds: options.presignSeconds,
    }),
  );
  return { url, expiresAt: new Date(runtime.now() + options.presignSeconds * 1000).toISOString() };
}

export async function deleteUpload(
  runtime: Runtime,
  orgId: string,
  uploadId: string,
  actor: Actor,
  request: Request,
): Promise<void> {
  const storage = await storageOf(runtime);
  const deleted = await purgedAfter(
    runtime,
    [orgAuditTag(orgId)],
    deleteUploadRow(runtime.db.primary, orgId, uploadId, actor, request),
  );
  if (deleted === undefined) throw new AppError("NOT_FOUND", "No such upload.");
  await deleteUnusedObject(runtime, storage, deleted);
}
