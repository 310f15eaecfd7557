import { multiaddr } from '@multiformats/multiaddr'
import { InvalidOptionError, NotFoundError, TimeoutError, setBounded } from '@sedai/core'
import { LinkClosedError, NoNeighboursError, NotStartedError } from '../errors.ts'
import { HostCache } from '../neighbours.ts'
import { BanList } from '../overlay/bans.ts'
import { count, ownEntry } from '../overlay/components.ts'
import { BootstrapDialer } from '../overlay/dialer.ts'
import { LinkTable, handleLinks, openNeighbour, tickEvery, untilLinkUp } from '../overlay/links.ts'
import { QueryFlood, queryText } from '../overlay/query-flood.ts'
import { readLink } from '../overlay/read-loop.ts'
import { RelayClient } from '../overlay/relay-client.ts'
import { LOCAL } from '../seen-cache.ts'
import { MANIFEST_INDEX, RELAY_TIMEOUT_MS, CLOSE_GRACE_MS, FLOOD_PROTOCOL, MAX_HIT_FILES, MAX_PONG_ENTRIES } from './constants.ts'
import {
  BYE_NAMES, ByeCode, MESSAGE_NAMES, MessageType, RelayStatus, decodeMessage, encodePing, encodePong, encodeQueryHit,
  encodeRelayReply, encodeRelayRequest, idHex
} from './messages.ts'
import type { FloodConfig } from '../config.ts'
import type { Neighbour } from '../neighbours.ts'
import type { OverlayComponents, OverlayContext } from '../overlay/components.ts'
import type { SearchOptions } from '../overlay/query-flood.ts'
import type { Message, PeerEntry, Query, RelayReply, RelayRequest } from './messages.ts'
import type { Logger, SearchHit, Stats } from '@sedai/core'
import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** What the service needs of a libp2p node (a Libp2p satisfies it). */
export type FloodComponents = OverlayComponents

/** A file a peer offers to queries. */
export interface LocalFile { cid: string, name: string, size: number }

export interface FloodInit {
  config: FloodConfig
  stats: Stats
  logger: Logger
  /** the files this peer answers queries with */
  files: () => LocalFile[]
  /** multiaddrs to link to at start, retried with backoff until linked once */
  bootstrap?: string[]
  /** serves in-band (relayed) requests for our shared files; none = we answer NOT_FOUND */
  store?: RelayStore
}

/** What in-band serving reads (a ContentStore satisfies it). */
export interface RelayStore {
  getManifest: (cid: string) => { bytes: Uint8Array } | undefined
  readChunk: (cid: string, index: number) => Promise<Uint8Array>
}

export type FloodSearchOptions = SearchOptions

/** Does `file` answer `text`? The text is the CID itself, or every word occurs in the name (case-insensitive). */
export function matches (file: LocalFile, text: string): boolean {
  const q = text.trim()
  if (q === file.cid) return true
  const words = q.toLowerCase().split(/\s+/).filter(w => w !== '')
  if (words.length === 0) return false
  const name = file.name.toLowerCase()
  return words.every(w => name.includes(w))
}

/**
 * /sedai/flood/1.0.0: the pure, unstructured overlay of Gnutella 0.6, as a
 * policy on the overlay link layer (../overlay/): a link is confirmed by the
 * PONG to its first PING, every neighbour gets every query, PONGs fill the
 * host cache that tops the neighbours up, and relayed requests go hop by hop
 * along the path hits came by.
 */
export class FloodService {
  readonly protocol = FLOOD_PROTOCOL
  readonly config: FloodConfig
  readonly hostCache: HostCache
  private readonly components: FloodComponents
  private readonly ctx: OverlayContext
  private readonly log: Logger
  private readonly files: () => LocalFile[]
  private readonly self: string
  private readonly links: LinkTable<Neighbour>
  private readonly dialing = new Set<string>()
  private readonly bans: BanList
  private readonly queries: QueryFlood
  private readonly relayClient: RelayClient
  /** relayed request id -> the neighbour that asked */
  private readonly relayRoutes = new Map<string, string>()
  private readonly store?: RelayStore
  private lastChunk?: { key: string, data: Promise<Uint8Array> }
  private readonly bootstrap: BootstrapDialer
  private timer?: NodeJS.Timeout
  private started = false

  constructor (components: FloodComponents, init: FloodInit) {
    this.components = components
    this.config = init.config
    this.log = init.logger.child({ component: 'flood' })
    this.files = init.files
    this.store = init.store
    this.self = components.peerId.toString()
    this.ctx = { self: this.self, name: 'flood', stats: init.stats, log: this.log, messageName: type => MESSAGE_NAMES[type] }
    this.links = new LinkTable(this.self, neighbour => neighbour)
    this.bans = new BanList(init.config)
    this.queries = new QueryFlood({ ctx: this.ctx, config: init.config, bans: this.bans, neighbour: peer => this.links.get(peer) })
    this.relayClient = new RelayClient({ ttl: init.config.maxTtl, timeoutMs: RELAY_TIMEOUT_MS })
    this.hostCache = new HostCache(init.config.hostCacheSize)
    this.bootstrap = new BootstrapDialer({ addrs: init.bootstrap ?? [], connect: async target => await this.connect(target), log: this.log, afterLink: 'once' })
  }

  readonly [Symbol.toStringTag] = '@sedai/flood'

  /** The query router (seen cache, TTL rules, reverse paths). */
  get router (): QueryFlood['router'] {
    return this.queries.router
  }

  async start (): Promise<void> {
    if (this.started) return
    await handleLinks(this.components, this.protocol, (stream, connection) => { this.accept(stream, connection) })
    this.started = true
    this.timer = tickEvery(this.config.maintainIntervalMs, () => { this.maintain() })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    await this.components.unhandle(this.protocol)
    await this.links.closeAll('flood service stopped')
  }

  isStarted (): boolean {
    return this.started
  }

  /** Current neighbours' peer ids. */
  neighbours (): string[] {
    return [...this.links.keys()]
  }

  private inc (key: string, n = 1): void {
    count(this.ctx, key, n)
  }

  // ---- links ---------------------------------------------------------------

  /**
   * Links to the peer at `target` (dials it). Resolves with its peer id once
   * the remote has answered the link's first PING (or the link already
   * existed); rejects when it refuses (BYE FULL, BANNED ...) or does not answer.
   */
  async connect (target: Multiaddr | Multiaddr[], signal?: AbortSignal): Promise<string> {
    if (!this.started) throw new NotStartedError('flood service not started')
    const deadline = AbortSignal.any([AbortSignal.timeout(this.config.connectTimeoutMs), ...(signal !== undefined ? [signal] : [])])
    const conn = await this.components.dial(target, { signal: deadline })
    const peer = conn.remotePeer.toString()
    if (peer === this.self || this.links.has(peer)) return peer
    if (this.bans.isBanned(peer)) throw new InvalidOptionError(`peer ${peer} is banned for flooding`)
    if (this.links.size >= this.config.maxNeighbours) throw new InvalidOptionError(`already ${this.links.size} neighbours (the maximum)`)
    const stream = await conn.newStream(this.protocol, { signal: deadline })
    const neighbour = this.attach(peer, stream, true)
    try {
      await untilLinkUp(neighbour, deadline, `${peer} did not answer the link`)
    } catch (err: any) {
      // a refused duplicate means the other link to this peer survived
      if (this.links.has(peer) && this.links.get(peer) !== neighbour) return peer
      if (!neighbour.isClosing) neighbour.abort(err)
      throw err
    }
    return peer
  }

  /** An inbound link stream. */
  private accept (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (!this.started) { stream.abort(new NotStartedError('not started')); return }
    if (this.bans.isBanned(peer)) { this.refuse(peer, stream, ByeCode.BANNED, 'banned for flooding'); return }
    if (!this.links.has(peer) && this.links.size >= this.config.maxNeighbours) {
      this.refuse(peer, stream, ByeCode.FULL, `full (${this.links.size} neighbours)`)
      return
    }
    this.attach(peer, stream, false)
  }

  private openNeighbour (peer: string, stream: Stream, outbound: boolean): Neighbour {
    return openNeighbour(this.ctx, this.config, peer, stream, outbound, (neighbour, msg) => { this.queries.countSent(neighbour, msg) })
  }

  /** Refuses a link: a PONG with other hosts to try (Gnutella 0.6's X-Try), then BYE. */
  private refuse (peer: string, stream: Stream, code: ByeCode, reason: string): void {
    const neighbour = this.openNeighbour(peer, stream, false)
    if (code === ByeCode.FULL) neighbour.send({ type: MessageType.PONG, bytes: encodePong(0, this.pongEntries(peer)) })
    neighbour.close(code, reason)
    this.inc(`refused.${BYE_NAMES[code]}`)
    setTimeout(() => { neighbour.abort(new TimeoutError('refused link')) }, CLOSE_GRACE_MS).unref()
  }

  /** Registers a link (the link table's tie-break settles a duplicate), says PING and starts reading it. */
  private attach (peer: string, stream: Stream, outbound: boolean): Neighbour {
    const neighbour = this.openNeighbour(peer, stream, outbound)
    if (!this.links.attach(peer, neighbour)) return neighbour
    this.inc('neighboursAdded')
    this.log.info({ peer, outbound, neighbours: this.links.size }, 'neighbour linked')
    neighbour.run().catch(err => { this.log.debug({ peer, err: err.message }, 'link writer ended') })
    neighbour.send({ type: MessageType.PING, bytes: encodePing(neighbour.helloNonce) })
    void readLink({
      ctx: this.ctx,
      neighbour,
      readTurnMs: this.config.readTurnMs,
      decode: decodeMessage,
      handle: (msg: Message, bytes) => this.onMessage(neighbour, msg, bytes)
    }).then(why => { this.unlink(neighbour, why) })
    return neighbour
  }

  /** One message on a link; returns why the link ends (a BYE), else undefined. */
  private onMessage (neighbour: Neighbour, msg: Message, bytes: Uint8Array): string | undefined {
    switch (msg.type) {
      case MessageType.PING:
        neighbour.send({ type: MessageType.PONG, bytes: encodePong(msg.nonce, this.pongEntries(neighbour.peerId)) })
        break
      case MessageType.PONG:
        // the answer to our first PING confirms the link (a refusal's PONG carries nonce 0)
        if (msg.nonce === neighbour.helloNonce) neighbour.confirm()
        for (const entry of msg.entries) {
          if (entry.peerId === this.self) continue
          if (entry.peerId === neighbour.peerId) neighbour.entry = entry
          this.hostCache.add(entry)
        }
        break
      case MessageType.QUERY:
        this.onQuery(neighbour, msg)
        break
      case MessageType.QUERY_HIT:
        this.queries.onHit(neighbour, msg, bytes)
        break
      case MessageType.RELAY_REQUEST:
        this.onRelayRequest(neighbour, msg)
        break
      case MessageType.RELAY_REPLY:
        this.onRelayReply(msg, bytes)
        break
      case MessageType.BYE:
        if (msg.code === ByeCode.FULL) this.hostCache.failed(neighbour.peerId, performance.now())
        neighbour.end()
        return `BYE ${BYE_NAMES[msg.code]}${msg.reason !== '' ? `: ${msg.reason}` : ''}`
    }
    return undefined
  }

  private unlink (neighbour: Neighbour, why: string): void {
    neighbour.fail(new LinkClosedError(`link to ${neighbour.peerId} ended: ${why}`))
    if (!this.links.remove(neighbour.peerId, neighbour)) return
    if (!neighbour.isClosing) neighbour.abort(new TimeoutError(why))
    this.inc('neighboursLost')
    this.log.info({ peer: neighbour.peerId, why, neighbours: this.links.size }, 'neighbour lost')
    // replace it from the host cache now rather than at the next tick
    if (this.started && this.links.size < this.config.minNeighbours) setImmediate(() => { this.maintain() })
  }

  private pongEntries (to: string): PeerEntry[] {
    const entries = [ownEntry(this.self, this.components.getMultiaddrs())]
    for (const neighbour of this.links.values()) {
      if (entries.length >= MAX_PONG_ENTRIES / 2) break
      if (neighbour.peerId !== to && neighbour.entry !== undefined) entries.push(neighbour.entry)
    }
    const have = new Set(entries.map(e => e.peerId))
    entries.push(...this.hostCache.sample(MAX_PONG_ENTRIES - entries.length, id => id === to || have.has(id)))
    return entries
  }

  // ---- queries and hits ------------------------------------------------------

  /** Gnutella: every neighbour gets the query; we answer with our matching files. */
  private onQuery (from: Neighbour, q: Query): void {
    this.queries.onQuery(from, q, { forwardTo: () => this.links.keys(), answer: () => { this.answer(from, q) } })
  }

  /** QUERY_HITs for our matching files, to the neighbour the query came from. */
  private answer (to: Neighbour, q: Query): void {
    const found = this.files().filter(f => matches(f, q.text)).map(f => ({ cid: f.cid, name: f.name, size: f.size }))
    if (found.length === 0) return
    const responder = ownEntry(this.self, this.components.getMultiaddrs())
    for (let i = 0; i < found.length; i += MAX_HIT_FILES) {
      const bytes = encodeQueryHit({ id: q.id, responder, files: found.slice(i, i + MAX_HIT_FILES) })
      if (to.send({ type: MessageType.QUERY_HIT, bytes })) this.inc('hitsSent')
    }
  }

  /**
   * Floods a query and collects the hits until the timeout (or the signal).
   * Throws NoNeighboursError when there is no one to ask.
   */
  async search (text: string, opts: FloodSearchOptions): Promise<SearchHit[]> {
    if (!this.started) throw new NotStartedError('flood service not started')
    queryText(text)
    if (this.links.size === 0) throw new NoNeighboursError('no overlay neighbours to flood the query to (give --bootstrap)')
    return await this.queries.search(text, opts, [...this.links.keys()])
  }

  // ---- in-band transfer (Gnutella's "peer-to-peer over the peer model") -------

  /** Whether a relay path toward `peer` is known (a hit from it came through a neighbour still linked). */
  hasPathTo (peer: string): boolean {
    return this.queries.pathTo(peer) !== undefined
  }

  /**
   * Asks `target` for a range of a chunk (or of the manifest, index
   * MANIFEST_INDEX) along the path its hits came by; every hop relays.
   */
  async relayFetch (target: string, cid: string, index: number, offset: number, length: number, signal?: AbortSignal): Promise<{ total: number, data: Uint8Array }> {
    const via = this.queries.pathTo(target)
    if (via === undefined) throw new NotFoundError(`no overlay path to ${target} (search first)`)
    const reply = await this.relayClient.request(via, { target, cid, index, offset, length }, signal)
    this.inc('relayBytesFetched', reply.data.byteLength)
    return reply
  }

  private onRelayRequest (from: Neighbour, request: RelayRequest): void {
    const id = idHex(request.id)
    const answer = (status: RelayStatus, total: number, data?: Uint8Array, error?: string): void => {
      from.send({ type: MessageType.RELAY_REPLY, bytes: encodeRelayReply({ id: request.id, status, total, data, error }) })
    }
    if (request.target === this.self) {
      this.serveRelay(request).then(({ total, data }) => {
        this.inc('relayRangesServed')
        answer(RelayStatus.OK, total, data)
      }, (err: any) => {
        answer(err instanceof NotFoundError ? RelayStatus.NOT_FOUND : RelayStatus.ERROR, 0, undefined, err.message)
      })
      return
    }
    const next = this.queries.pathTo(request.target)
    if (next === undefined || next === from || request.ttl <= 1) {
      this.inc('relayNoRoute')
      answer(RelayStatus.NOT_FOUND, 0, undefined, 'no path to the target')
      return
    }
    setBounded(this.relayRoutes, id, from.peerId, this.config.seenCacheSize)
    if (next.send({ type: MessageType.RELAY_REQUEST, bytes: encodeRelayRequest({ ...request, ttl: request.ttl - 1 }) })) this.inc('relayRequestsForwarded')
  }

  private onRelayReply (reply: RelayReply, bytes: Uint8Array): void {
    const id = idHex(reply.id)
    const from = this.relayRoutes.get(id)
    if (from !== undefined) {
      this.relayRoutes.delete(id)
      if (this.links.get(from)?.send({ type: MessageType.RELAY_REPLY, bytes }) === true) {
        this.inc('relayRepliesForwarded')
        this.inc('relayBytesForwarded', reply.data?.byteLength ?? 0)
      }
      return
    }
    if (!this.relayClient.onReply(reply)) this.inc('droppedUnknownRelay')
  }

  private async serveRelay (request: RelayRequest): Promise<{ total: number, data: Uint8Array }> {
    if (this.store === undefined) throw new NotFoundError('not shared here')
    let whole: Uint8Array
    if (request.index === MANIFEST_INDEX) {
      const manifest = this.store.getManifest(request.cid)
      if (manifest === undefined || !this.files().some(f => f.cid === request.cid)) throw new NotFoundError('not shared here')
      whole = manifest.bytes
    } else {
      if (!this.files().some(f => f.cid === request.cid)) throw new NotFoundError('not shared here')
      // the ranges of one chunk come one after another: read it once
      const key = `${request.cid}/${request.index}`
      if (this.lastChunk?.key !== key) this.lastChunk = { key, data: this.store.readChunk(request.cid, request.index) }
      whole = await this.lastChunk.data
    }
    if (request.offset > whole.byteLength) throw new InvalidOptionError(`offset ${request.offset} past the end (${whole.byteLength})`)
    return { total: whole.byteLength, data: whole.subarray(request.offset, Math.min(whole.byteLength, request.offset + request.length)) }
  }

  // ---- overlay maintenance ---------------------------------------------------

  /** Keepalive and dead-link detection, bootstrap retries, top-up from the host cache. */
  private maintain (): void {
    if (!this.started) return
    const now = performance.now()
    this.links.sweep(this.config, neighbour => {
      neighbour.send({ type: MessageType.PING, bytes: encodePing(Math.floor(Math.random() * 2 ** 32)) })
    }, now)
    this.bootstrap.dialDue(now)
    const deficit = this.config.minNeighbours - this.links.size - this.dialing.size
    if (deficit <= 0) return
    const candidates = this.hostCache.candidates(deficit, now, this.config.retryMs,
      peer => peer !== this.self && !this.links.has(peer) && !this.dialing.has(peer) && !this.bans.isBanned(peer))
    for (const candidate of candidates) {
      let addrs: Multiaddr[]
      try {
        addrs = candidate.addrs.map(a => multiaddr(`${a}/p2p/${candidate.peerId}`))
      } catch {
        this.hostCache.delete(candidate.peerId)
        continue
      }
      this.dialing.add(candidate.peerId)
      this.connect(addrs).then(() => {
        this.inc('neighboursFromHostCache')
      }, err => {
        this.hostCache.failed(candidate.peerId, performance.now())
        this.log.debug({ peer: candidate.peerId, err: err.message }, 'host cache candidate failed')
      }).finally(() => { this.dialing.delete(candidate.peerId) })
    }
  }

  /** State for `sedai stats`: neighbours, caches and the recent queries' per-link message counts. */
  snapshot (): Record<string, unknown> {
    return {
      neighbourCount: this.links.size,
      neighbours: [...this.links.values()].map(neighbour => ({
        peerId: neighbour.peerId,
        outbound: neighbour.outbound,
        queued: neighbour.queued,
        queriesIn: neighbour.queriesIn,
        throttled: neighbour.throttled,
        throttledQueries: neighbour.throttledQueries
      })),
      hostCache: this.hostCache.size,
      seenCache: this.router.seen.size,
      banned: this.bans.list(),
      recentQueries: this.router.seen.recent(this.config.statsQueries).map(([id, e]) => {
        const sentTo = Object.fromEntries([...e.sentTo].filter(([, c]) => c > 0))
        return {
          id,
          origin: e.from === LOCAL,
          from: e.from === LOCAL ? undefined : e.from,
          ttl: e.ttl,
          hops: e.hops,
          received: e.received,
          maxTtl: e.maxTtl,
          sent: Object.values(sentTo).reduce((a, b) => a + b, 0),
          sentTo,
          resentTo: Object.fromEntries(e.resentTo),
          hits: e.hits
        }
      })
    }
  }
}
