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
  /** neighbours that sent us a copy, with the highest TTL each sent: a neighbour gains from our copy only when it carries more */
  heardFrom: Map<string, number>
  /** neighbours we sent it to, with the count of first sends (never above 1 by construction) */
  sentTo: Map<string, number>
  /** neighbours we sent it to again because a copy with a higher TTL came later, with the count */
  resentTo: Map<string, number>
  /** the highest TTL we sent it with to each neighbour */
  sentTtl: Map<string, number>
  /** the highest TTL (clamped) any copy arrived with; a later copy with more is forwarded again */
  maxTtl: number
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
      if (from !== LOCAL) known.heardFrom.set(from, Math.max(ttl, known.heardFrom.get(from) ?? 0))
      return { entry: known, first: false }
    }
    const entry: SeenEntry = {
      from,
      at: this.now(),
      received: from === LOCAL ? 0 : 1,
      heardFrom: new Map(from === LOCAL ? [] : [[from, ttl]]),
      sentTo: new Map(),
      resentTo: new Map(),
      sentTtl: new Map(),
      maxTtl: ttl,
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
