/** Receives the samples of Stats.observe: a distribution's name ('search.seconds'), the value and its labels. */
export type Observer = (name: string, value: number, labels: Record<string, string>) => void

/**
 * Counters shared by every service of a daemon. Keys are dotted paths
 * ('transfer.bytesServed', 'messages.transfer.in.CHUNK_REPLY'); `toJSON()`
 * nests them so `sedai stats` prints one object per protocol.
 */
export class Stats {
  private readonly counters = new Map<string, number>()
  private readonly observers = new Set<Observer>()

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

  /** Every counter as [dotted key, value], in no particular order. */
  entries (): Array<[string, number]> {
    return [...this.counters]
  }

  /**
   * One sample of a distribution (a latency in seconds), handed to whoever
   * listens (the daemon's /metrics histograms) and not kept: a histogram's
   * buckets are fixed by its reader, and `sedai stats` keeps its own percentiles.
   */
  observe (name: string, value: number, labels: Record<string, string> = {}): void {
    for (const fn of this.observers) fn(name, value, labels)
  }

  /** Calls `fn` with every later observe(); returns the function that stops it. */
  onObserve (fn: Observer): () => void {
    this.observers.add(fn)
    return () => { this.observers.delete(fn) }
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
