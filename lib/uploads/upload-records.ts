/**
 * The upload rows and the quota counters, changed together in one transaction each. The quota is one conditional
 * UPDATE (used + reserved + size <= quota): PostgreSQL re-checks it under the row lock, so concurrent reservations
 * can never pass it.
 */
import { and, desc, eq, inArray, lt, sql } from "drizzle-orm";
import { type AuditEvent, recordAuditEvent } from "../audit/audit-log.ts";
import type { Db } from "../db/database.ts";
import { orgStorage, uploads } from "../db/schema/index.ts";
import { AppError } from "../errors/app-error.ts";

export type UploadRow = typeof uploads.$inferSelect;

export interface UploadView {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  status: UploadRow["status"];
  createdAt: string;
  expiresAt: string;
  completedAt: string | null;
}

export function uploadView(row: UploadRow): UploadView {
  return {
    id: row.id,
    filename: row.filename,
    contentType: row.contentType,
    size: row.size,
    sha256: row.sha256,
    status: row.status,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    completedAt: row.completedAt?.toISOString() ?? null,
  };
}

export interface DeclaredUpload {
  filename: string;
  contentType: string;
  size: number;
  /** Base64 SHA-256. */
  sha256: string;
}

/** `orgs/<orgId>/<sha256 hex>`: named by content, never by the caller's filename. */
export function objectKeyOf(orgId: string, sha256: string): string {
  return `orgs/${orgId}/${Buffer.from(sha256, "base64").toString("hex")}`;
}

const addBytes = (column: typeof orgStorage.reservedBytes | typeof orgStorage.usedBytes, bytes: number) =>
  sql`${column} + ${bytes}`;

/** Reserves `declared.size` bytes of the organization's quota and records the pending upload, or QUOTA_EXCEEDED. */
export async function reserveUploadRow(
  db: Db,
  reservation: { orgId: string; quotaBytes: number; expiresAt: Date; actor: AuditEvent["actor"] },
  declared: DeclaredUpload,
  request: Request,
): Promise<UploadRow> {
  const { orgId, actor } = reservation;
  return db.transaction(async (tx) => {
    await tx.insert(orgStorage).values({ orgId, quotaBytes: reservation.quotaBytes }).onConflictDoNothing();
    const { usedBytes, reservedBytes, quotaBytes } = orgStorage;
    const fits = sql`${usedBytes} + ${reservedBytes} + ${declared.size} <= ${quotaBytes}`;
    const reserved = await tx
      .update(orgStorage)
      .set({ reservedBytes: addBytes(orgStorage.reservedBytes, declared.size) })
      .where(and(eq(orgStorage.orgId, orgId), fits))
      .returning({ orgId: orgStorage.orgId });
    if (reserved.length === 0) throw new AppError("QUOTA_EXCEEDED", undefined, { size: declared.size });
    const [row] = await tx
      .insert(uploads)
      .values({
        orgId,
        objectKey: objectKeyOf(orgId, declared.sha256),
        ...declared,
        createdBy: `${actor.type}:${actor.id ?? ""}`,
        expiresAt: reservation.expiresAt,
      })
      .returning();
    if (row === undefined) throw new Error("inserting an upload returned no row");
    await recordAuditEvent(
      tx,
      { action: "upload.reserved", actor, orgId, target: { type: "upload", id: row.id }, metadata: metadataOf(row) },
      request,
    );
    return row;
  });
}

const metadataOf = (row: UploadRow) => ({ contentType: row.contentType, size: row.size, sha256: row.sha256 });

export async function findUpload(db: Db, orgId: string, uploadId: string): Promise<UploadRow | undefined> {
  const [row] = await db
    .select()
    .from(uploads)
    .where(and(eq(uploads.orgId, orgId), eq(uploads.id, uploadId)));
  return row;
}

export async function listUploadRows(db: Db, orgId: string, limit: number): Promise<UploadRow[]> {
  return db
    .select()
    .from(uploads)
    .where(and(eq(uploads.orgId, orgId), inArray(uploads.status, ["pending", "ready"])))
    .orderBy(desc(uploads.createdAt), desc(uploads.id))
    .limit(limit);
}

/**
 * Moves a pending upload to `ready` (its bytes move from reserved to used) or `rejected` (its reservation is
 * released). Undefined when it was no longer pending: another call settled it first.
 */
export async function settleUpload(
  db: Db,
  row: UploadRow,
  outcome: { status: "ready"; nowMs: number } | { status: "rejected"; code: string },
  actor: AuditEvent["actor"],
  request: Request,
): Promise<UploadRow | undefined> {
  return db.transaction(async (tx) => {
    const [settled] = await tx
      .update(uploads)
      .set(
        outcome.status === "ready"
          ? { status: "ready", completedAt: new Date(outcome.nowMs) }
          : { status: "rejected", rejectedCode: outcome.code },
      )
      .where(and(eq(uploads.id, row.id), eq(uploads.status, "pending")))
      .returning();
    if (settled === undefined) return undefined;
    await tx
      .update(orgStorage)
      .set({
        reservedBytes: addBytes(orgStorage.reservedBytes, -row.size),
        ...(outcome.status === "ready" ? { usedBytes: addBytes(orgStorage.usedBytes, row.size) } : {}),
      })
      .where(eq(orgStorage.orgId, row.orgId));
    const action = outcome.status === "ready" ? "upload.completed" : "upload.rejected";
    const metadata = outcome.status === "ready" ? metadataOf(row) : { ...metadataOf(row), code: outcome.code };
    await recordAuditEvent(
      tx,
      { action, actor, orgId: row.orgId, target: { type: "upload", id: row.id }, metadata },
      request,
    );
    return settled;
  });
}

/** Deletes the upload's row and gives back its bytes; undefined when there was none. */
export async function deleteUploadRow(
  db: Db,
  orgId: string,
  uploadId: string,
  actor: AuditEvent["actor"],
  request: Request,
): Promise<UploadRow | undefined> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .delete(uploads)
      .where(and(eq(uploads.orgId, orgId), eq(uploads.id, uploadId)))
      .returning();
    if (row === undefined) return undefined;
    const column = row.status === "ready" ? "usedBytes" : row.status === "pending" ? "reservedBytes" : undefined;
    if (column !== undefined)
      await tx
        .update(orgStorage)
        .set({ [column]: addBytes(orgStorage[column], -row.size) })
        .where(eq(orgStorage.orgId, orgId));
    await recordAuditEvent(
      tx,
      { action: "upload.deleted", actor, orgId, target: { type: "upload", id: row.id }, metadata: metadataOf(row) },
      request,
    );
    return row;
  });
}

/** Whether a live upload (pending or ready) other than `exceptId` still names the object. */
export async function objectStillUsed(db: Db, objectKey: string, exceptId: string): Promise<boolean> {
  const rows = await db
    .select({ id: uploads.id })
    .from(uploads)
    .where(
      and(
        eq(uploads.objectKey, objectKey),
        inArray(uploads.status, ["pending", "ready"]),
        sql`${uploads.id} <> ${exceptId}`,
      ),
    )
    .limit(1);
  return rows.length > 0;
}

/** Expires pending uploads past their reservation and releases their bytes, in one transaction. */
export async function expirePendingUploads(db: Db, nowMs: number): Promise<UploadRow[]> {
  return db.transaction(async (tx) => {
    const expired = await tx
      .update(uploads)
      .set({ status: "expired" })
      .where(and(eq(uploads.status, "pending"), lt(uploads.expiresAt, new Date(nowMs))))
      .returning();
    const byOrg = new Map<string, number>();
    for (const row of expired) byOrg.set(row.orgId, (byOrg.get(row.orgId) ?? 0) + row.size);
    for (const [orgId, bytes] of byOrg)
      await tx
        .update(orgStorage)
        .set({ reservedBytes: addBytes(orgStorage.reservedBytes, -bytes) })
        .where(eq(orgStorage.orgId, orgId));
    return expired;
  });
}
