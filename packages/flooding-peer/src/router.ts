import { LOCAL, SeenCache } from './seen-cache.ts'
import type { SeenEntry } from './seen-cache.ts'

/**
 * Gnutella 0.6's forwarding rules, free of any I/O so that the supernode
 * generation can reuse them for queries among supernodes:
 *
 * - a query id seen before is dropped (duplicate), unless this copy carries a
 *   higher TTL than any before it: then it is forwarded again, not answered
 *   again (gtk-gnutella's "dup with higher TTL", routing.c check_duplicate),
 *   so a query reaches every peer within TTL hops whichever path's copy
 *   arrived first;
 * - TTL + hops is clamped to the hard cap (a neighbour asking for TTL 255 gets 10 - hops);
 * - a query that arrives with TTL 0 is dropped; otherwise it is answered here,
 *   and forwarded with TTL - 1 and hops + 1 only while that TTL is above 0;
 * - it is forwarded to every neighbour except those that already hold it with
 *   at least the TTL we would send, and over a link a second time only with a
 *   higher TTL than the first;
 * - a hit goes back only to the neighbour its query came from; a hit for an
 *   unknown (or expired) id is dropped, and so are hits beyond a per-query bound.
 */
export type QueryDecision =
  | { action: 'duplicate', entry: SeenEntry }
  | { action: 'expired', entry: SeenEntry, clamped: boolean }
  | { action: 'accept', entry: SeenEntry, clamped: boolean, forward?: { ttl: number, hops: number } }
  | { action: 'higherTtl', entry: SeenEntry, clamped: boolean, forward?: { ttl: number, hops: number } }

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
    const clamp = clampTtl(ttl, hops, this.maxTtl)
    const { entry, first } = this.seen.see(id, from, clamp.ttl, hops)
    const next = { ttl: clamp.ttl - 1, hops: Math.min(hops + 1, 255) }
    const forward = next.ttl > 0 ? next : undefined
    if (!first) {
      if (clamp.ttl <= entry.maxTtl) return { action: 'duplicate', entry }
      const answered = entry.maxTtl > 0
      entry.maxTtl = clamp.ttl
      if (answered) return { action: 'higherTtl', entry, clamped: clamp.clamped, forward }
      // the first copy came with TTL 0 and was dropped unanswered: this one is the query's first here
      Object.assign(entry, { from, ttl: clamp.ttl, hops })
      return { action: 'accept', entry, clamped: clamp.clamped, forward }
    }
    if (clamp.ttl === 0) return { action: 'expired', entry, clamped: clamp.clamped }
    return { action: 'accept', entry, clamped: clamp.clamped, forward }
  }

  /**
   * The neighbours a copy of the query with `ttl` goes to: those of
   * `neighbours` that would gain from it. A neighbour that sent us a copy
   * with TTL t held it with t + 1 and already forwarded t; ours helps only
   * when `ttl` is above t + 1. One we sent it to helps only from a higher
   * TTL than we sent. Marks them as sent with `ttl`.
   */
  forwardTargets (entry: SeenEntry, neighbours: Iterable<string>, ttl: number): string[] {
    const out: string[] = []
    for (const peer of neighbours) {
      const heard = entry.heardFrom.get(peer)
      if (heard !== undefined && ttl <= heard + 1) continue
      if ((entry.sentTtl.get(peer) ?? 0) >= ttl) continue
      if (!entry.sentTo.has(peer)) entry.sentTo.set(peer, 0)
      entry.sentTtl.set(peer, ttl)
      out.push(peer)
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
