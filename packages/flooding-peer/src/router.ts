import { LOCAL, SeenCache } from './seen-cache.ts'
import type { SeenEntry } from './seen-cache.ts'

/**
 * Gnutella 0.6's forwarding rules, free of any I/O so that the supernode
 * generation can reuse them for queries among supernodes:
 *
 * - a query id seen before is dropped (duplicate);
 * - TTL + hops is clamped to the hard cap (a neighbour asking for TTL 255 gets 10 - hops);
 * - a query that arrives with TTL 0 is dropped; otherwise it is answered here,
 *   and forwarded with TTL - 1 and hops + 1 only while that TTL is above 0;
 * - it is forwarded to every neighbour except those that already sent it to us,
 *   and never twice over the same link;
 * - a hit goes back only to the neighbour its query came from; a hit for an
 *   unknown (or expired) id is dropped, and so are hits beyond a per-query bound.
 */
export type QueryDecision =
  | { action: 'duplicate', entry: SeenEntry }
  | { action: 'expired', entry: SeenEntry, clamped: boolean }
  | { action: 'accept', entry: SeenEntry, clamped: boolean, forward?: { ttl: number, hops: number } }

export type HitDecision =
  | { action: 'unknown' }
  | { action: 'overLimit', entry: SeenEntry }
  | { action: 'local', entry: SeenEntry }
  | { action: 'route', entry: SeenEntry, to: string }

export interface QueryRouterInit {
  /** TTL + hops cap (Gnutella 0.6 hard cap) */
  maxTtl: number
  maxHitsPerQuery: number
  seenCacheSize: number
  seenTtlMs: number
  now?: () => number
}

/** TTL clamped so that TTL + hops stays within `maxTtl`. */
export function clampTtl (ttl: number, hops: number, maxTtl: number): { ttl: number, clamped: boolean } {
  const allowed = Math.max(0, maxTtl - hops)
  return ttl > allowed ? { ttl: allowed, clamped: true } : { ttl, clamped: false }
}

export class QueryRouter {
  readonly seen: SeenCache
  private readonly maxTtl: number
  private readonly maxHitsPerQuery: number

  constructor (init: QueryRouterInit) {
    this.maxTtl = init.maxTtl
    this.maxHitsPerQuery = init.maxHitsPerQuery
    this.seen = new SeenCache({ maxEntries: init.seenCacheSize, maxAgeMs: init.seenTtlMs, now: init.now })
  }

  /** A query of our own: remembered as LOCAL so its hits stop here. TTL capped at the hard cap. */
  originate (id: string, ttl: number): { ttl: number, entry: SeenEntry } {
    const capped = Math.max(1, Math.min(ttl, this.maxTtl))
    const { entry } = this.seen.see(id, LOCAL, capped, 0)
    return { ttl: capped, entry }
  }

  /** A query received from neighbour `from`. */
  onQuery (id: string, from: string, ttl: number, hops: number): QueryDecision {
    const { entry, first } = this.seen.see(id, from, ttl, hops)
    if (!first) return { action: 'duplicate', entry }
    const clamp = clampTtl(ttl, hops, this.maxTtl)
    entry.ttl = clamp.ttl
    if (clamp.ttl === 0) return { action: 'expired', entry, clamped: clamp.clamped }
    const next = { ttl: clamp.ttl - 1, hops: Math.min(hops + 1, 255) }
    return { action: 'accept', entry, clamped: clamp.clamped, forward: next.ttl > 0 ? next : undefined }
  }

  /**
   * The neighbours a query goes to: all of `neighbours` except those that
   * sent it to us and those it was already sent to. Marks them as sent.
   */
  forwardTargets (entry: SeenEntry, neighbours: Iterable<string>): string[] {
    const out: string[] = []
    for (const n of neighbours) {
      if (entry.heardFrom.has(n) || entry.sentTo.has(n)) continue
      entry.sentTo.set(n, 0)
      out.push(n)
    }
    return out
  }

  /** Where a QUERY_HIT for `id` goes. */
  onHit (id: string): HitDecision {
    const entry = this.seen.get(id)
    if (entry === undefined) return { action: 'unknown' }
    if (entry.hits >= this.maxHitsPerQuery) return { action: 'overLimit', entry }
    entry.hits++
    return entry.from === LOCAL ? { action: 'local', entry } : { action: 'route', entry, to: entry.from }
  }
}
