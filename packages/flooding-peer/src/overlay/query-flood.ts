import { randomBytes } from 'node:crypto'
import { InvalidOptionError, parseCid, setBounded } from '@sedai/core'
import { QueryRouter } from '../router.ts'
import { MAX_QUERY_BYTES } from '../protocol/constants.ts'
import { ByeCode, MessageType, encodeQuery, idHex } from '../protocol/messages.ts'
import { count } from './components.ts'
import type { BanList } from './bans.ts'
import type { OverlayContext } from './components.ts'
import type { Neighbour, Outgoing } from '../neighbours.ts'
import type { HitFile, Query, QueryHit } from '../protocol/messages.ts'
import type { SearchHit } from '@sedai/core'

/** The config the query rules read (both generations' configs have these). */
export interface QueryFloodConfig {
  defaultTtl: number
  maxTtl: number
  maxHitsPerQuery: number
  seenCacheSize: number
  seenTtlMs: number
  queryRatePerSec: number
  providerCacheSize: number
}

export interface QueryFloodInit {
  ctx: OverlayContext
  config: QueryFloodConfig
  /** who floods queries is banned here (and refused links while banned) */
  bans: BanList
  /** the neighbour linked to `peer`, if any: hits route back on it, queries go out on it */
  neighbour: (peer: string) => Neighbour | undefined
}

export interface SearchOptions {
  /** TTL of the query; default config.defaultTtl, capped at config.maxTtl */
  ttl?: number
  /** hits are collected for this long (ms) */
  timeoutMs: number
  signal?: AbortSignal
  onHit?: (hit: SearchHit) => void
  /** stop this long (ms) after the first hit (provider lookups); default: run to the timeout */
  afterFirstHitMs?: number
}

/** What a generation decides about one query: where it goes on, and who answers it here. */
export interface QueryPolicy {
  /** the peers a query may be forwarded to (flooding: every neighbour; supernode: supernode peers only) */
  forwardTo: () => Iterable<string>
  /** sends our hits for the query back to where it came from */
  answer: () => void
}

/** A query's text, trimmed; InvalidOptionError unless it has 1 to MAX_QUERY_BYTES bytes. */
export function queryText (text: string): string {
  const q = text.trim()
  const size = Buffer.byteLength(q)
  if (size < 1 || size > MAX_QUERY_BYTES) throw new InvalidOptionError(`a query has 1 to ${MAX_QUERY_BYTES} bytes, not ${size}`)
  return q
}

function validCid (f: HitFile): boolean {
  try {
    parseCid(f.cid)
    return true
  } catch {
    return false
  }
}

/**
 * Gnutella 0.6's query rules, for every link of a generation that floods:
 * admission (duplicates, the per-link rate, the ban of a flooder), TTL
 * forwarding, reverse-path routing of hits, and our own searches.
 */
export class QueryFlood {
  readonly router: QueryRouter
  /** responder peer id -> the neighbour its hits came from: the path toward it (Gnutella's PUSH route) */
  readonly toward = new Map<string, string>()
  private readonly searches = new Map<string, (hit: QueryHit) => void>()
  private readonly init: QueryFloodInit

  constructor (init: QueryFloodInit) {
    this.init = init
    this.router = new QueryRouter({
      maxTtl: init.config.maxTtl,
      maxHitsPerQuery: init.config.maxHitsPerQuery,
      seenCacheSize: init.config.seenCacheSize,
      seenTtlMs: init.config.seenTtlMs
    })
  }

  private inc (key: string, n = 1): void {
    count(this.init.ctx, key, n)
  }

  /** The neighbour on the path toward `peer` (its hits came through it), if still linked. */
  pathTo (peer: string): Neighbour | undefined {
    const via = this.toward.get(peer)
    return via === undefined ? undefined : this.init.neighbour(via)
  }

  /** Counts a QUERY written to `neighbour` against its query id (stats' per-link counts: first sends, and re-sends with a higher TTL). */
  countSent (neighbour: Neighbour, msg: Outgoing): void {
    if (msg.queryId === undefined) return
    const entry = this.router.seen.get(msg.queryId)
    if (entry === undefined) return
    const sent = entry.sentTo.get(neighbour.peerId) ?? 0
    if (sent === 0) entry.sentTo.set(neighbour.peerId, 1)
    else entry.resentTo.set(neighbour.peerId, (entry.resentTo.get(neighbour.peerId) ?? 0) + 1)
  }

  /**
   * A QUERY from `from`. A neighbour past the rate is throttled; past
   * maxThrottledPerWindow it is dropped with BYE FLOODING and banned for banMs
   * (both generations: docs/FLOOD.md "Flooding neighbours").
   */
  onQuery (from: Neighbour, q: Query, policy: QueryPolicy): void {
    const id = idHex(q.id)
    // a first copy from this neighbour of a query another neighbour already brought costs a lookup (and at
    // most a re-forward with a higher TTL): it is not charged to the rate, or honest neighbours relaying one
    // attacker's queries would throttle each other. A neighbour repeating an id itself is charged.
    const known = this.router.seen.get(id)
    if (known === undefined || known.heardFrom.has(from.peerId)) {
      const admission = from.admitQuery()
      if (admission !== 'ok') {
        this.inc('droppedThrottled')
        if (admission === 'drop') {
          this.inc('neighboursDroppedForFlooding')
          this.init.bans.ban(from.peerId)
          this.init.ctx.log.warn({ peer: from.peerId, throttled: from.throttledQueries }, 'neighbour dropped and banned for flooding queries')
          from.close(ByeCode.FLOODING, `more than ${this.init.config.queryRatePerSec} queries/s`, true)
        } else if (from.throttledQueries === 1) {
          this.init.ctx.log.warn({ peer: from.peerId, rate: this.init.config.queryRatePerSec }, 'neighbour throttled: query rate above the limit')
        }
        return
      }
    }
    this.inc('queriesReceived')
    const decision = this.router.onQuery(id, from.peerId, q.ttl, q.hops)
    if (decision.action === 'duplicate') {
      this.inc('droppedDuplicate')
      this.cancelCopiesTo(from, id, q.ttl)
      return
    }
    if (decision.clamped) this.inc('ttlClamped')
    if (decision.action === 'expired') { this.inc('droppedTtl'); return }
    if (decision.action === 'higherTtl') {
      // answered when its first copy came; only the reach grows
      this.inc('higherTtlCopies')
      this.cancelCopiesTo(from, id, q.ttl)
    } else {
      policy.answer()
    }
    if (decision.forward === undefined) { this.inc('droppedTtl'); return }
    const { ttl, hops } = decision.forward
    const bytes = encodeQuery({ id: q.id, ttl, hops, text: q.text })
    for (const peer of this.router.forwardTargets(decision.entry, policy.forwardTo(), ttl)) {
      if (this.init.neighbour(peer)?.send({ type: MessageType.QUERY, bytes, queryId: id, queryTtl: ttl }) === true) this.inc('queriesForwarded')
    }
  }

  /** `from` just sent us query `id` with `ttl`, so it holds it with ttl + 1: a queued copy with no more need not cross the link back. */
  private cancelCopiesTo (from: Neighbour, id: string, ttl: number): void {
    if (from.cancelQuery(id, ttl + 1)) this.inc('queriesCancelled')
  }

  /** A QUERY_HIT from `from` (undefined: one of our own answers to our own search): to our search, or back along the path. */
  onHit (from: Neighbour | undefined, hit: QueryHit, bytes: Uint8Array): void {
    const id = idHex(hit.id)
    const decision = this.router.onHit(id)
    if (from !== undefined && (decision.action === 'local' || decision.action === 'route')) {
      setBounded(this.toward, hit.responder.peerId, from.peerId, this.init.config.providerCacheSize)
    }
    switch (decision.action) {
      case 'unknown':
        this.inc('droppedUnknownHit')
        return
      case 'overLimit':
        this.inc('droppedHitsOverLimit')
        return
      case 'local': {
        const search = this.searches.get(id)
        if (search === undefined) { this.inc('droppedLateHit'); return }
        this.inc('hitsReceived')
        search(hit)
        return
      }
      case 'route': {
        const back = this.init.neighbour(decision.to)
        if (back === undefined) { this.inc('droppedNoRoute'); return }
        if (back.send({ type: MessageType.QUERY_HIT, bytes })) this.inc('hitsRouted')
      }
    }
  }

  /**
   * Floods query `text` (checked with queryText) to `targets` and collects the
   * hits until the timeout, the signal, or afterFirstHitMs after the first.
   * `answerLocally` lets a generation answer its own query (a supernode
   * answers from its index) once the search is registered.
   */
  async search (text: string, opts: SearchOptions, targets: Iterable<string>, answerLocally?: (id: Uint8Array, text: string) => void): Promise<SearchHit[]> {
    const q = queryText(text)
    const idBytes = randomBytes(16)
    const id = idHex(idBytes)
    const { ttl, entry } = this.router.originate(id, opts.ttl ?? this.init.config.defaultTtl)
    this.inc('queriesOriginated')
    const hits: SearchHit[] = []
    const started = performance.now()
    const done = new AbortController()
    const until = AbortSignal.any([done.signal, AbortSignal.timeout(opts.timeoutMs), ...(opts.signal !== undefined ? [opts.signal] : [])])
    let firstHitMs: number | undefined
    this.searches.set(id, (msg) => {
      if (firstHitMs === undefined) {
        firstHitMs = performance.now() - started
        if (opts.afterFirstHitMs !== undefined) setTimeout(() => { done.abort() }, opts.afterFirstHitMs).unref()
      }
      for (const f of msg.files) {
        if (!validCid(f)) { this.inc('droppedInvalidHitFile'); continue }
        const hit: SearchHit = { cid: f.cid, name: f.name, size: f.size, providers: [{ peerId: msg.responder.peerId, addrs: msg.responder.addrs }] }
        hits.push(hit)
        opts.onHit?.(hit)
      }
    })
    try {
      answerLocally?.(idBytes, q)
      const bytes = encodeQuery({ id: idBytes, ttl, hops: 0, text: q })
      for (const peer of this.router.forwardTargets(entry, targets, ttl)) {
        this.init.neighbour(peer)?.send({ type: MessageType.QUERY, bytes, queryId: id, queryTtl: ttl })
      }
      this.init.ctx.log.debug({ id, ttl, query: q }, 'query flooded')
      if (!until.aborted) await new Promise(resolve => until.addEventListener('abort', resolve, { once: true }))
    } finally {
      this.searches.delete(id)
    }
    this.init.ctx.log.info({ id, ttl, hits: hits.length, firstHitMs: firstHitMs === undefined ? undefined : Math.round(firstHitMs) }, 'search done')
    return hits
  }
}
