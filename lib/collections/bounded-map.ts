/**
 * Sets `key` in a map that keeps at most `maxEntries`: the entry set longest ago is dropped to make room.
 * Setting a key again makes it the newest. For in-process caches that an attacker can feed new keys.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, maxEntries: number): void {
  map.delete(key);
  if (map.size >= maxEntries) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
