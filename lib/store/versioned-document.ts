/**
 * A JSON document in the store that several instances change without losing a write: version N+1 is
 * claimed with SET NX on its own key before the main key and a small head key (the version number alone)
 * are overwritten. A poll reads the head, reads the main document only when the head is ahead of what it
 * knows, then follows version keys past it (a writer may have claimed one and not yet set the head): two
 * small GETs when nothing changed. Version keys expire; the head does not, so an instance that slept
 * through their lifetime still catches up instead of writing over newer versions.
 * When the store is behind what an instance knows and no version key explains it (Redis restarted without
 * persistence, or was flushed), that instance puts its version back, so a change that was acknowledged is
 * not lost and instances starting afterwards do not begin from the defaults. If the store was written
 * again since the loss, by an instance that never saw the older versions, it puts back
 * `reconcile(ours, theirs)` numbered after its own version, so every instance moves forward to it. Only
 * the instance that claims that version's key puts it back, and none while the store answers from a
 * stand-in (FallbackStore during a Redis outage). Left open: a loss is not seen by an instance once the
 * store's versions have climbed back past the one it knows before its next poll.
 */
import { type } from "arktype";
import { AppError } from "../errors/app-error.ts";
import type { Store } from "./store.ts";

export interface DocumentVersion {
  version: number;
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
  /** Writes `next(latest)` as the following version, recomputed and retried when another instance wrote first; `next` may throw to write nothing. */
  write(next: (latest: DocumentVersion | undefined) => unknown, actor: string): Promise<DocumentVersion>;
}

export const DEFAULT_VERSIONED_DOCUMENT = {
  historyTtlMs: 60 * 60_000,
  maxAttempts: 8,
} as const;

const storedHeader = type({ version: "number.integer >= 1", changedBy: "string", changedAt: "string" });

export function createVersionedDocument(options: VersionedDocumentOptions): VersionedDocument {
  const { store, key, field, historyTtlMs, maxAttempts, onRestored } = { ...DEFAULT_VERSIONED_DOCUMENT, ...options };
  const reconcile = options.reconcile ?? ((ours: DocumentVersion) => ours.value);
  const versionKey = (version: number) => `${key}:v${version}`;
  const headKey = `${key}:head`;
  let known: DocumentVersion | undefined;

  const parse = (raw: string): DocumentVersion => {
    const parsed: unknown = JSON.parse(raw);
    const header = storedHeader(parsed);
    if (header instanceof type.errors) throw new Error(`${key} holds a malformed document: ${header.summary}`);
    return { version: header.version, value: (parsed as Record<string, unknown>)[field], changedBy: header.changedBy, changedAt: header.changedAt };
  };
  const serialise = (doc: DocumentVersion) => JSON.stringify({ version: doc.version, [field]: doc.value, changedBy: doc.changedBy, changedAt: doc.changedAt });
  // Concurrent reads and writes may finish in any order; what this instance knows only moves forward.
  const remember = (doc: DocumentVersion) => {
    if (known === undefined || doc.version > known.version) known = doc;
  };

  const latest = async (): Promise<DocumentVersion | undefined> => {
    const head = Number((await store.get(headKey)) ?? 0);
    if (known === undefined || head > known.version) {
      const main = await store.get(key);
      if (main !== null) remember(parse(main));
    }
    for (;;) {
      const raw = await store.get(versionKey((known?.version ?? 0) + 1));
      if (raw === null) break;
      remember(parse(raw));
    }
    // Behind the head during a write is normal, but then the version's own key exists (for historyTtlMs).
    if (known !== undefined && head < known.version && store.isDegraded?.() !== true && (await store.get(versionKey(known.version))) === null) {
      const main = head === 0 ? null : await store.get(key);
      const theirs = main === null ? undefined : parse(main);
      if (theirs === undefined) await restore(known, undefined);
      else await restore({ version: known.version + 1, value: reconcile(known, theirs), changedBy: known.changedBy, changedAt: new Date().toISOString() }, theirs);
    }
    return known;
  };

  const restore = async (doc: DocumentVersion, theirs: DocumentVersion | undefined) => {
    const json = serialise(doc);
    // Another instance putting the same version back at the same moment: theirs stands.
    if (!(await store.set(versionKey(doc.version), json, { onlyIfAbsent: true, ttlMs: historyTtlMs }))) return;
    await store.set(key, json);
    await store.set(headKey, String(doc.version));
    remember(doc);
    onRestored?.(doc, theirs);
  };

  return {
    latest,
    async write(next, actor) {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        const base = await latest();
        const doc: DocumentVersion = { version: (base?.version ?? 0) + 1, value: next(base), changedBy: actor, changedAt: new Date().toISOString() };
        const json = serialise(doc);
        if (!(await store.set(versionKey(doc.version), json, { onlyIfAbsent: true, ttlMs: historyTtlMs }))) continue;
        remember(doc);
        await store.set(key, json);
        await store.set(headKey, String(doc.version));
        // A writer that claimed a later version may have set the main key before this one did: put it back,
        // so an instance starting cold does not begin from an older version.
        const newest = await latest();
        if (newest !== undefined && newest.version > doc.version) {
          await store.set(key, serialise(newest));
          await store.set(headKey, String(newest.version));
        }
        return doc;
      }
      throw new AppError("CONFLICT", "Another change was being written at the same moment; try again.");
    },
  };
}
