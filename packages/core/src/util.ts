/** Small helpers several packages need. */

/** Whether two byte arrays hold the same bytes. */
export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

/**
 * Sets key -> value in an insertion-ordered map (moving the key to the end),
 * forgetting the oldest entries beyond `max`: a bounded most-recent cache.
 */
export function setBounded<K, V> (map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  while (map.size > max) map.delete(map.keys().next().value as K)
}
