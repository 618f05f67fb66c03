/**
 * A source's live signing keys for the receiver: one query per delivery, and each secret row decrypted and
 * imported once (a new ciphertext for the same row, after re-encryption, is imported again).
 */
import { and, eq, isNull } from "drizzle-orm";
import { setBounded } from "../collections/bounded-map.ts";
import { DecryptError } from "../crypto/envelope-encryption.ts";
import { webhookSourceSecrets, webhookSources } from "../db/schema/index.ts";
import type { Runtime } from "../runtime/runtime.ts";
import { importHmacKey, signingKeyBytes, type WebhookKind } from "./webhook-secret.ts";
import { webhookSecretRowIdentity } from "./webhook-sources.ts";

export interface SourceKeys {
  readonly orgId: string;
  readonly kind: WebhookKind;
  readonly keys: readonly CryptoKey[];
}

const MAX_CACHED_KEYS = 10_000;

export function createSourceKeyCache(runtime: Runtime) {
  const imported = new Map<string, { ciphertext: string; key: Promise<CryptoKey | undefined> }>();

  const importSecret = async (id: string, kind: WebhookKind, ciphertext: string) => {
    try {
      const secret = await runtime.services.identity.encryptor.decrypt(ciphertext, webhookSecretRowIdentity(id));
      const bytes = signingKeyBytes(kind, secret);
      return typeof bytes === "string" ? undefined : await importHmacKey(bytes);
    } catch (error) {
      if (!(error instanceof DecryptError)) throw error;
      runtime.logger.error("webhook secret cannot be decrypted", { secretId: id, reason: error.reason });
      return undefined;
    }
  };

  /** The source's keys live at `nowMs`, or undefined for a source that is unknown or disabled. */
  return async function liveKeysOf(sourceId: string, nowMs: number): Promise<SourceKeys | undefined> {
    const rows = await runtime.db.primary
      .select({
        orgId: webhookSources.orgId,
        kind: webhookSources.kind,
        id: webhookSourceSecrets.id,
        ciphertext: webhookSourceSecrets.secretCiphertext,
        notBefore: webhookSourceSecrets.notBefore,
        notAfter: webhookSourceSecrets.notAfter,
      })
      .from(webhookSources)
      .innerJoin(webhookSourceSecrets, eq(webhookSourceSecrets.sourceId, webhookSources.id))
      .where(and(eq(webhookSources.id, sourceId), isNull(webhookSources.disabledAt)));
    const first = rows[0];
    if (first === undefined) return undefined;
    const keys: CryptoKey[] = [];
    for (const row of rows) {
      if (row.notBefore.getTime() > nowMs || (row.notAfter !== null && row.notAfter.getTime() <= nowMs)) continue;
      let cached = imported.get(row.id);
      if (cached?.ciphertext !== row.ciphertext) {
        cached = { ciphertext: row.ciphertext, key: importSecret(row.id, row.kind, row.ciphertext) };
        setBounded(imported, row.id, cached, MAX_CACHED_KEYS);
      }
      const key = await cached.key;
      if (key !== undefined) keys.push(key);
    }
    return { orgId: first.orgId, kind: first.kind, keys };
  };
}
