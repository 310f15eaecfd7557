/**
 * The query ids a peer has seen, each with the neighbour it first came from:
 * Gnutella's routing table. A QUERY_HIT goes back to that neighbour (the
 * reverse path); a hit whose id is not here is dropped. Bounded both ways:
 * at most `maxEntries` ids (oldest forgotten first) and none older than
 * `maxAgeMs`.
 */

/** `from` of a query this peer originated. */
export const LOCAL = ''

export interface SeenEntry {
  /** the neighbour the first copy came from; LOCAL for our own queries */
  from: string
  /** when it was first seen (ms, performance.now()) */
  at: number
  /** copies received (the first included), so duplicates = received - 1 */
  received: number
  /** neighbours that sent us a copy: forwarding to them would be wasted */
  heardFrom: Set<string>
  /** neighbours we sent it to, with the count (never above 1 by construction) */
  sentTo: Map<string, number>
  /** hits routed back for this id */
  hits: number
  /** TTL and hops as first received (or originated) */
  ttl: number
  hops: number
}

export class SeenCache {
  private readonly entries = new Map<string, SeenEntry>()
  private readonly maxEntries: number
  private readonly maxAgeMs: number
  private readonly now: () => number

  constructor (init: { maxEntries: number, maxAgeMs: number, now?: () => number }) {
    this.maxEntries = init.maxEntries
    this.maxAgeMs = init.maxAgeMs
    this.now = init.now ?? (() => performance.now())
  }

  get size (): number {
    return this.entries.size
  }

  /** The entry of a live id, or undefined (never seen, evicted or expired). */
  get (id: string): SeenEntry | undefined {
    const entry = this.entries.get(id)
    if (entry === undefined) return undefined
    if (this.now() - entry.at > this.maxAgeMs) {
      this.entries.delete(id)
      return undefined
    }
    return entry
  }

  /**
   * Records a copy of `id` from `from`. Returns the entry and whether this
   * was the first copy; a repeated id only counts (and notes who sent it).
   */
  see (id: string, from: string, ttl: number, hops: number): { entry: SeenEntry, first: boolean } {
    const known = this.get(id)
    if (known !== undefined) {
      known.received++
      if (from !== LOCAL) known.heardFrom.add(from)
      return { entry: known, first: false }
    }
    const entry: SeenEntry = {
      from,
      at: this.now(),
      received: from === LOCAL ? 0 : 1,
      heardFrom: new Set(from === LOCAL ? [] : [from]),
      sentTo: new Map(),
      hits: 0,
      ttl,
      hops
    }
    this.entries.set(id, entry)
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
    return { entry, first: true }
  }

  /** The most recent entries, newest last. */
  recent (n: number): Array<[string, SeenEntry]> {
    const all = [...this.entries]
    return all.slice(Math.max(0, all.length - n))
  }
}
