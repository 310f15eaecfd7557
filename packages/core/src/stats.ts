/**
 * Counters shared by every service of a daemon. Keys are dotted paths
 * ('transfer.bytesServed', 'messages.transfer.in.CHUNK_REPLY'); `toJSON()`
 * nests them so `sedai stats` prints one object per protocol.
 */
export class Stats {
  private readonly counters = new Map<string, number>()

  inc (key: string, n = 1): void {
    this.counters.set(key, (this.counters.get(key) ?? 0) + n)
  }

  get (key: string): number {
    return this.counters.get(key) ?? 0
  }

  /** Counts one message of `protocol`/`type` in a direction, with its size on the wire. */
  message (protocol: string, direction: 'in' | 'out', type: string, bytes: number): void {
    this.inc(`messages.${protocol}.${direction}.${type}`)
    this.inc(`bytes.${protocol}.${direction}.${type}`, bytes)
  }

  toJSON (): Record<string, unknown> {
    const root: Record<string, any> = {}
    for (const [key, value] of [...this.counters].sort(([a], [b]) => a.localeCompare(b))) {
      const path = key.split('.')
      let node = root
      for (const part of path.slice(0, -1)) node = node[part] ??= {}
      node[path[path.length - 1]] = value
    }
    return root
  }
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; undefined when there are none. */
export function percentile (samples: number[], p: number): number | undefined {
  if (samples.length === 0) return undefined
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}
