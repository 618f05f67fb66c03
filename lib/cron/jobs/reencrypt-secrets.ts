/**
 * Re-seals secrets stored under an older ENCRYPTION_KEYS version with the current one, in batches. It
 * is resumable (rows are found by their version prefix) and safe to run twice at once (each update only
 * applies while the row still holds the ciphertext that was read).
 */
import { and, asc, eq, getTableColumns, gt, notLike } from "drizzle-orm";
import type { AnyPgColumn, PgTable } from "drizzle-orm/pg-core";
import { signingKeyRowIdentity } from "../../auth/signing-keys.ts";
import { totpSecretRowIdentity } from "../../auth/totp-secret.ts";
import { DecryptError } from "../../crypto/envelope-encryption.ts";
import {
  signingKeys,
  sloAlertChannels,
  userTotp,
  webhookEndpointSecrets,
  webhookSourceSecrets,
} from "../../db/schema/index.ts";
import { alertChannelRowIdentity } from "../../slo/alert-channels.ts";
import { endpointSecretRowIdentity } from "../../webhooks/webhook-endpoints.ts";
import { webhookSecretRowIdentity } from "../../webhooks/webhook-sources.ts";
import type { ScheduledJob } from "../scheduled-job.ts";

/** A column of secrets sealed by lib/crypto/envelope-encryption, with what its writer bound them to. */
export interface EncryptedColumn {
  /** `table.column`, for reports. */
  readonly name: string;
  readonly table: PgTable;
  /** The row's primary key (text or uuid), which also orders the scan. */
  readonly id: AnyPgColumn<{ data: string; notNull: true }>;
  readonly ciphertext: AnyPgColumn<{ data: string; notNull: true }>;
  rowIdentity(id: string): string;
}

/** Every encrypted column; add one here when a table gains a secret. */
export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  {
    name: "signing_keys.private_key_ciphertext",
    table: signingKeys,
    id: signingKeys.kid,
    ciphertext: signingKeys.privateKeyCiphertext,
    rowIdentity: signingKeyRowIdentity,
  },
  {
    name: "webhook_source_secrets.secret_ciphertext",
    table: webhookSourceSecrets,
    id: webhookSourceSecrets.id,
    ciphertext: webhookSourceSecrets.secretCiphertext,
    rowIdentity: webhookSecretRowIdentity,
  },
  {
    name: "webhook_endpoint_secrets.secret_ciphertext",
    table: webhookEndpointSecrets,
    id: webhookEndpointSecrets.id,
    ciphertext: webhookEndpointSecrets.secretCiphertext,
    rowIdentity: endpointSecretRowIdentity,
  },
  {
    name: "slo_alert_channels.secret_ciphertext",
    table: sloAlertChannels,
    id: sloAlertChannels.id,
    ciphertext: sloAlertChannels.secretCiphertext,
    rowIdentity: alertChannelRowIdentity,
  },
  {
    name: "user_totp.secret_sealed",
    table: userTotp,
    id: userTotp.userId,
    ciphertext: userTotp.secretSealed,
    rowIdentity: totpSecretRowIdentity,
  },
];

export const DEFAULT_REENCRYPT_BATCH_SIZE = 200;

export class ReencryptFailedError extends Error {
  override name = "ReencryptFailedError";
}

// update().set() takes the table's field names, not the database's column names.
function fieldNameOf(column: EncryptedColumn): string {
  const field = Object.entries(getTableColumns(column.table)).find(
    ([, candidate]) => candidate === column.ciphertext,
  )?.[0];
  if (field === undefined) throw new Error(`${column.name}: the ciphertext column is not a column of its table`);
  return field;
}

export const reencryptSecrets: ScheduledJob = {
  name: "reencrypt-secrets",
  schedule: "37 4 * * *",
  async run(runtime, signal) {
    const { encryptor } = runtime.services.identity;
    const db = runtime.db.primary;
    const stale = `v${encryptor.currentVersion}.%`;
    let moved = 0;
    const failures: string[] = [];
    for (const column of ENCRYPTED_COLUMNS) {
      // Keyset paging: a row that cannot be decrypted is passed over, not selected again forever.
      const field = fieldNameOf(column);
      // Undefined before the first page: "" is no valid uuid, which some tables' keys are.
      let after: string | undefined;
      while (!signal.aborted) {
        const rows = await db
          .select({ id: column.id, ciphertext: column.ciphertext })
          .from(column.table)
          .where(and(notLike(column.ciphertext, stale), after === undefined ? undefined : gt(column.id, after)))
          .orderBy(asc(column.id))
          .limit(DEFAULT_REENCRYPT_BATCH_SIZE);
        for (const { id, ciphertext } of rows) {
          let plaintext: string;
          try {
            plaintext = await encryptor.decrypt(ciphertext, column.rowIdentity(id));
          } catch (error) {
            if (!(error instanceof DecryptError)) throw error;
            runtime.logger.error("secret cannot be re-encrypted", { column: column.name, id, reason: error.reason });
            failures.push(`${column.name} ${id}: ${error.reason}`);
            continue;
          }
          const sealed = await encryptor.encrypt(plaintext, column.rowIdentity(id));
          const updated = await db
            .update(column.table)
            .set({ [field]: sealed })
            .where(and(eq(column.id, id), eq(column.ciphertext, ciphertext)))
            .returning({ id: column.id });
          moved += updated.length;
        }
        const last = rows.at(-1);
        if (last === undefined || rows.length < DEFAULT_REENCRYPT_BATCH_SIZE) break;
        after = last.id;
      }
    }
    const done = signal.aborted ? "stopped at the deadline (the next run resumes)" : "done";
    const summary = `re-encrypted ${moved} secrets to v${encryptor.currentVersion}; ${done}`;
    if (failures.length > 0)
      throw new ReencryptFailedError(
        `${summary}; ${failures.length} could not be decrypted: ${failures.slice(0, 10).join(", ")}`,
      );
    return summary;
  },
};
