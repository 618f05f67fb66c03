/**
 * Tag purge in O(1): each tag has a version counter, every cached entry records the versions it was computed
 * under, and an entry whose versions are not the current ones is never served. Purging is one INCR per tag;
 * old entries expire by their TTL. Call it after the write commits, never before: a reader between the purge
 * and the commit would store the old value under the new version.
 */
import type { Store } from "../store/store.ts";
import { recordPurges } from "./purge-intervals.ts";

const TAG_KEY_PREFIX = "rct:";

// The versions this process last read or bumped, per store: a purge here is seen by its in-process layer at once.
const knownVersions = new WeakMap<Store, Map<string, number>>();

export function tagVersionKey(tag: string): string {
  return TAG_KEY_PREFIX + tag;
}

function versionsOf(store: Store): Map<string, number> {
  let versions = knownVersions.get(store);
  if (versions === undefined) {
    versions = new Map();
    knownVersions.set(store, versions);
  }
  return versions;
}

/** Records versions read from the store; a counter never goes back, so the highest seen is current. */
export function noteTagVersion(store: Store, tag: string, version: number): void {
  const versions = versionsOf(store);
  if (version > (versions.get(tag) ?? 0)) versions.set(tag, version);
}

/** The newest version of `tag` this process has seen (0 before any purge). */
export function knownTagVersion(store: Store, tag: string): number {
  return knownVersions.get(store)?.get(tag) ?? 0;
}

/** The purge reached only this instance's stand-in for the store: the shared entries are still there. */
export class PurgeNotSharedError extends Error {
  constructor(
    readonly tags: readonly string[],
    cause: unknown,
  ) {
    super("the tag purge did not reach the shared store", { cause });
  }
}

/**
 * Makes every cached answer tagged with any of `tags` unreachable, on every instance sharing the store (within
 * their in-process layer's lifetime, at most a second; at once on this one). Throws PurgeNotSharedError when
 * the store cannot be reached; the entries kept by this instance's stand-in are purged all the same.
 * @example await purgeTags(runtime, [`org:${orgId}`])
 */
export async function purgeTags(
  runtime: { readonly store: Store; now(): number },
  tags: readonly string[],
): Promise<void> {
  const { store } = runtime;
  let bumped: number[];
  try {
    // The counters never expire: one that did would start again at 0 and revive the entries purged under it.
    [bumped] = await Promise.all([
      Promise.all(tags.map((tag) => store.incrShared(tagVersionKey(tag)))),
      recordPurges(store, tags, runtime.now()),
    ]);
  } catch (error) {
    await Promise.all(tags.map((tag) => store.incr(tagVersionKey(tag)))).catch(() => undefined);
    throw new PurgeNotSharedError(tags, error);
  }
  for (let i = 0; i < tags.length; i++) noteTagVersion(store, tags[i] as string, bumped[i] as number);
}
