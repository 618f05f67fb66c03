/**
 * A JSON document in the store that several instances change without losing a write: version N+1 is
 * claimed with SET NX on its own key before the main key and a small head key ("<version>:<id>", the id
 * random per version) are overwritten. A poll reads the head, reads the main document only when the head
 * is ahead of what it knows, then follows version keys past it (a writer may have claimed one and not yet
 * set the head): two small GETs when nothing changed. Version keys expire; the head does not, so an
 * instance that slept through their lifetime still catches up instead of writing over newer versions.
 * A main key or head left behind a claimed version (two writers finishing out of order) is set again
 * from that version's key by whoever notices.
 * When the store lost what an instance knows (Redis restarted without persistence, or was flushed: the
 * store is behind with no version key to explain it, or holds another version under the same number),
 * that instance puts its version back, so a change that was acknowledged is not lost and instances
 * starting afterwards do not begin from the defaults. If the store was written again since the loss, by
 * an instance that never saw the older versions, it puts back `reconcile(ours, theirs)` numbered after
 * both, so every instance moves forward to it. Only the instance that claims that version's key puts it
 * back, and none while the store answers from a stand-in (FallbackStore during a Redis outage). Left open:
 * a loss goes unseen by an instance if the store's versions climb past the one it knows before it polls.
 */
import { AppError } from "../errors/app-error.ts";
import type { Store } from "./store.ts";

export interface DocumentVersion {
  version: number;
  /** Random per written version ("" for one stored before ids): tells apart two versions given one number. */
  id: string;
  /** The payload, unvalidated: each caller checks it against its own schema. */
  value: unknown;
  changedBy: string;
  changedAt: string;
}

export interface VersionedDocumentOptions {
  store: Store;
  /** The main key, holding the newest version; version N also lives at `<key>:v<N>`. */
  key: string;
  /** Field of the stored JSON that holds the payload, e.g. "settings": `{version, settings, changedBy, changedAt}`. */
  field: string;
  /** How long a version's own key is kept: long enough for every poller to follow it. */
  historyTtlMs?: number;
  /** Write attempts under contention before giving up with 409. */
  maxAttempts?: number;
  /**
   * What to keep when the store was lost and then written by an instance that never saw `ours`; `theirs`
   * is what it wrote. By default ours: the whole state from before the loss.
   */
  reconcile?: (ours: DocumentVersion, theirs: DocumentVersion) => unknown;
  /** Called after this instance put back what the store had lost; `theirs` when it was written since. */
  onRestored?: (restored: DocumentVersion, theirs: DocumentVersion | undefined) => void;
}

export interface VersionedDocument {
  /** The newest version in the store, or undefined when none was ever written. */
  latest(): Promise<DocumentVersion | undefined>;
  /**
   * Writes `next(latest)` as the following version, recomputed and retried when another instance wrote first; `next`
   * may throw to write nothing.
   */
  write(next: (latest: DocumentVersion | undefined) => unknown, actor: string): Promise<DocumentVersion>;
}

export const DEFAULT_VERSIONED_DOCUMENT = {
  historyTtlMs: 60 * 60_000,
  maxAttempts: 8,
} as const;

interface StoredHeader {
  version: number;
  id?: string;
  changedBy: string;
  changedAt: string;
}

// Checked by hand: every instance reads the document at start, where importing arktype costs ~300 ms of CPU.
function headerProblem(parsed: unknown): string | undefined {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return "must be an object";
  const header = parsed as Record<string, unknown>;
  if (!Number.isInteger(header.version) || (header.version as number) < 1) return "version must be an integer >= 1";
  if ("id" in header && typeof header.id !== "string") return "id must be a string";
  if (typeof header.changedBy !== "string") return "changedBy must be a string";
  if (typeof header.changedAt !== "string") return "changedAt must be a string";
  return undefined;
}

export function createVersionedDocument(options: VersionedDocumentOptions): VersionedDocument {
  const { store, key, field, historyTtlMs, maxAttempts, onRestored } = { ...DEFAULT_VERSIONED_DOCUMENT, ...options };
  const reconcile = options.reconcile ?? ((ours: DocumentVersion) => ours.value);
  const versionKey = (version: number) => `${key}:v${version}`;
  const headKey = `${key}:head`;
  let known: DocumentVersion | undefined;

  const parse = (raw: string): DocumentVersion => {
    const parsed: unknown = JSON.parse(raw);
    const problem = headerProblem(parsed);
    if (problem !== undefined) throw new Error(`${key} holds a malformed document: ${problem}`);
    const header = parsed as StoredHeader;
    return {
      version: header.version,
      id: header.id ?? "",
      value: (parsed as Record<string, unknown>)[field],
      changedBy: header.changedBy,
      changedAt: header.changedAt,
    };
  };
  const serialise = (doc: DocumentVersion) =>
    JSON.stringify({
      version: doc.version,
      id: doc.id,
      [field]: doc.value,
      changedBy: doc.changedBy,
      changedAt: doc.changedAt,
    });
  // The head is "<version>:<id>"; one written before ids holds the version alone.
  const parseHead = (raw: string | null): { version: number; id: string | undefined } => {
    if (raw === null) return { version: 0, id: undefined };
    const colon = raw.indexOf(":");
    return colon < 0
      ? { version: Number(raw), id: undefined }
      : { version: Number(raw.slice(0, colon)), id: raw.slice(colon + 1) };
  };
  const publish = async (doc: DocumentVersion, json: string) => {
    await store.set(key, json);
    await store.set(headKey, `${doc.version}:${doc.id}`);
  };
  // Concurrent reads and writes may finish in any order; what this instance knows only moves forward.
  const remember = (doc: DocumentVersion) => {
    if (known === undefined || doc.version > known.version) known = doc;
  };

  const latest = async (): Promise<DocumentVersion | undefined> => {
    const head = parseHead(await store.get(headKey));
    if (known === undefined || head.version > known.version) {
      const main = await store.get(key);
      if (main !== null) remember(parse(main));
      // The main key behind its head: an older version put back at the same moment overwrote it.
      const claimed = head.version > (known?.version ?? 0) ? await store.get(versionKey(head.version)) : null;
      if (claimed !== null) {
        const doc = parse(claimed);
        remember(doc);
        await publish(doc, claimed);
      }
    }
    for (;;) {
      const raw = await store.get(versionKey((known?.version ?? 0) + 1));
      if (raw === null) break;
      remember(parse(raw));
    }
    if (known === undefined || store.isDegraded?.() === true) return known;
    // Another version under our number: put back by an instance that knew less, after a loss.
    let lost = head.version === known.version && head.id !== undefined && known.id !== "" && head.id !== known.id;
    if (head.version < known.version) {
      // Behind: a write not published yet, or published and then overwritten by an older put-back, both of
      // which leave the version's own key; without it, the store lost the version.
      const claimed = await store.get(versionKey(known.version));
      if (claimed === null) lost = true;
      else await publish(parse(claimed), claimed);
    }
    if (lost) {
      const main = head.version === 0 ? null : await store.get(key);
      const theirs = main === null ? undefined : parse(main);
      if (theirs === undefined) await restore(known, undefined);
      else
        await restore(
          {
            version: known.version + 1,
            id: crypto.randomUUID(),
            value: reconcile(known, theirs),
            changedBy: known.changedBy,
            changedAt: new Date().toISOString(),
          },
          theirs,
        );
    }
    return known;
  };

  const restore = async (doc: DocumentVersion, theirs: DocumentVersion | undefined) => {
    const json = serialise(doc);
    // Another instance putting the same version back at the same moment: theirs stands.
    if (!(await store.set(versionKey(doc.version), json, { onlyIfAbsent: true, ttlMs: historyTtlMs }))) return;
    await publish(doc, json);
    remember(doc);
    onRestored?.(doc, theirs);
  };

  return {
    latest,
    async write(next, actor) {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        const base = await latest();
        const doc: DocumentVersion = {
          version: (base?.version ?? 0) + 1,
          id: crypto.randomUUID(),
          value: next(base),
          changedBy: actor,
          changedAt: new Date().toISOString(),
        };
        const json = serialise(doc);
        if (!(await store.set(versionKey(doc.version), json, { onlyIfAbsent: true, ttlMs: historyTtlMs }))) continue;
        remember(doc);
        await publish(doc, json);
        // A writer that claimed a later version may have published before this one did: the poll sets
        // the main key and head back to it, so an instance starting cold does not begin from an older one.
        await latest();
        return doc;
      }
      throw new AppError("CONFLICT", "Another change was being written at the same moment; try again.");
    },
  };
}
