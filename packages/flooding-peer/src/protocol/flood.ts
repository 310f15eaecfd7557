import { randomBytes } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { FramedStream, InvalidOptionError, NotFoundError, RemoteError, TimeoutError, parseCid, setBounded } from '@sedai/core'
import { LinkClosedError, NoNeighboursError, NotStartedError } from '../errors.ts'
import { HostCache, Neighbour } from '../neighbours.ts'
import { QueryRouter } from '../router.ts'
import { LOCAL } from '../seen-cache.ts'
import { MANIFEST_INDEX, RELAY_TIMEOUT_MS, BOOTSTRAP_FIRST_RETRY_MS, BOOTSTRAP_MAX_RETRY_MS, FLOOD_PROTOCOL, MAX_FRAME_BYTES, MAX_HIT_FILES, MAX_PONG_ENTRIES, MAX_QUERY_BYTES, MAX_STREAMS_PER_CONNECTION } from './constants.ts'
import {
  BYE_NAMES, ByeCode, MESSAGE_NAMES, MessageType, RelayStatus, decodeMessage, encodePing, encodePong, encodeQuery, encodeQueryHit,
  encodeRelayReply, encodeRelayRequest, idHex
} from './messages.ts'
import type { FloodConfig } from '../config.ts'
import type { Outgoing } from '../neighbours.ts'
import type { HitFile, PeerEntry, Query, QueryHit, RelayReply, RelayRequest } from './messages.ts'
import type { Logger, SearchHit, Stats } from '@sedai/core'
import type { Connection, PeerId, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** What the service needs of a libp2p node (a Libp2p satisfies it). */
export interface FloodComponents {
  peerId: PeerId
  handle: (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  dial: (target: PeerId | Multiaddr | Multiaddr[], options?: { signal?: AbortSignal }) => Promise<Connection>
  getMultiaddrs: () => Multiaddr[]
}

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

export interface FloodSearchOptions {
  /** TTL of the query; default config.defaultTtl, capped at config.maxTtl */
  ttl?: number
  /** hits are collected for this long (ms) */
  timeoutMs: number
  signal?: AbortSignal
  onHit?: (hit: SearchHit) => void
  /** stop this long (ms) after the first hit (provider lookups); default: run to the timeout */
  afterFirstHitMs?: number
}

interface Search { onHit: (msg: QueryHit) => void }

/** Does `file` answer `text`? The text is the CID itself, or every word occurs in the name (case-insensitive). */
export function matches (file: LocalFile, text: string): boolean {
  const q = text.trim()
  if (q === file.cid) return true
  const words = q.toLowerCase().split(/\s+/).filter(w => w !== '')
  if (words.length === 0) return false
  const name = file.name.toLowerCase()
  return words.every(w => name.includes(w))
}

function stripPeer (addr: string): string {
  return addr.replace(/\/p2p\/[^/]+$/, '')
}

/**
 * /sedai/flood/1.0.0: the pure, unstructured overlay of Gnutella 0.6. Each
 * neighbour link is one bidirectional stream; queries flood with a TTL and
 * are deduplicated by id; hits return along the reverse path.
 */
export class FloodService {
  readonly protocol = FLOOD_PROTOCOL
  readonly config: FloodConfig
  readonly router: QueryRouter
  readonly hostCache: HostCache
  private readonly components: FloodComponents
  private readonly stats: Stats
  private readonly log: Logger
  private readonly files: () => LocalFile[]
  private readonly self: string
  private readonly links = new Map<string, Neighbour>()
  private readonly dialing = new Set<string>()
  private readonly banned = new Map<string, number>()
  private readonly searches = new Map<string, Search>()
  /** responder peer id -> the neighbour its hits came from: the path toward it (Gnutella's PUSH route) */
  private readonly toward = new Map<string, string>()
  /** relayed request id -> the neighbour that asked */
  private readonly relayRoutes = new Map<string, string>()
  /** our own relayed requests awaiting a reply */
  private readonly relayPending = new Map<string, (reply: RelayReply) => void>()
  private readonly store?: RelayStore
  private lastChunk?: { key: string, data: Promise<Uint8Array> }
  private readonly bootstrap: Array<{ addr: string, done: boolean, busy: boolean, nextAt: number, backoffMs: number }>
  private timer?: NodeJS.Timeout
  private started = false

  constructor (components: FloodComponents, init: FloodInit) {
    this.components = components
    this.config = init.config
    this.stats = init.stats
    this.log = init.logger.child({ component: 'flood' })
    this.files = init.files
    this.store = init.store
    this.self = components.peerId.toString()
    this.router = new QueryRouter({
      maxTtl: init.config.maxTtl,
      maxHitsPerQuery: init.config.maxHitsPerQuery,
      seenCacheSize: init.config.seenCacheSize,
      seenTtlMs: init.config.seenTtlMs
    })
    this.hostCache = new HostCache(init.config.hostCacheSize)
    this.bootstrap = (init.bootstrap ?? []).map(addr => ({ addr, done: false, busy: false, nextAt: 0, backoffMs: BOOTSTRAP_FIRST_RETRY_MS }))
  }

  readonly [Symbol.toStringTag] = '@sedai/flood'

  async start (): Promise<void> {
    if (this.started) return
    await this.components.handle(this.protocol, (stream, connection) => { this.accept(stream, connection) }, {
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
    })
    this.started = true
    this.timer = setInterval(() => { this.maintain() }, this.config.maintainIntervalMs)
    this.timer.unref()
    this.maintain()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    await this.components.unhandle(this.protocol)
    const links = [...this.links.values()]
    this.links.clear()
    for (const n of links) n.close(ByeCode.SHUTDOWN, 'shutting down', true)
    await Promise.race([
      Promise.allSettled(links.map(async n => { await n.run() })),
      new Promise(resolve => setTimeout(resolve, 1000).unref())
    ])
    for (const n of links) n.abort(new TimeoutError('flood service stopped'))
  }

  isStarted (): boolean {
    return this.started
  }

  /** Current neighbours' peer ids. */
  neighbours (): string[] {
    return [...this.links.keys()]
  }

  private inc (key: string, n = 1): void {
    this.stats.inc(`flood.${key}`, n)
  }

  private ownEntry (): PeerEntry {
    const all = [...new Set(this.components.getMultiaddrs().map(a => stripPeer(a.toString())))]
    // a loopback address is useless to another host; keep it only when it is all we have (a one-host lab)
    const routable = all.filter(a => !/^\/ip4\/127\.|^\/ip6\/::1\//.test(a))
    return { peerId: this.self, addrs: routable.length > 0 ? routable : all }
  }

  /** Bans a peer for banMs, keeping the table within maxBanned (expired bans dropped first, then the oldest). */
  private ban (peer: string): void {
    this.banned.delete(peer)
    if (this.banned.size >= this.config.maxBanned) {
      const now = Date.now()
      for (const [p, until] of this.banned) if (until <= now) this.banned.delete(p)
      // Map order is insertion order: the first entry is the oldest ban
      while (this.banned.size > 0 && this.banned.size >= this.config.maxBanned) this.banned.delete(this.banned.keys().next().value as string)
    }
    this.banned.set(peer, Date.now() + this.config.banMs)
  }

  private isBanned (peer: string): boolean {
    const until = this.banned.get(peer)
    if (until === undefined) return false
    if (Date.now() < until) return true
    this.banned.delete(peer)
    return false
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
    if (this.isBanned(peer)) throw new InvalidOptionError(`peer ${peer} is banned for flooding`)
    if (this.links.size >= this.config.maxNeighbours) throw new InvalidOptionError(`already ${this.links.size} neighbours (the maximum)`)
    const stream = await conn.newStream(this.protocol, { signal: deadline })
    const n = this.attach(peer, stream, true)
    const timeout = new Promise<never>((_resolve, reject) => {
      const onAbort = (): void => { reject(new TimeoutError(`${peer} did not answer the link`)) }
      if (deadline.aborted) onAbort()
      deadline.addEventListener('abort', onAbort, { once: true })
    })
    timeout.catch(() => {})
    try {
      await Promise.race([n.ready, timeout])
    } catch (err: any) {
      // a refused duplicate means the other link to this peer survived
      if (this.links.has(peer) && this.links.get(peer) !== n) return peer
      if (!n.isClosing) n.abort(err)
      throw err
    }
    return peer
  }

  /** An inbound link stream. */
  private accept (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (!this.started) { stream.abort(new NotStartedError('not started')); return }
    if (this.isBanned(peer)) { this.refuse(peer, stream, ByeCode.BANNED, 'banned for flooding'); return }
    if (!this.links.has(peer) && this.links.size >= this.config.maxNeighbours) {
      this.refuse(peer, stream, ByeCode.FULL, `full (${this.links.size} neighbours)`)
      return
    }
    this.attach(peer, stream, false)
  }

  private newNeighbour (peer: string, stream: Stream, outbound: boolean): Neighbour {
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: this.config.idleTimeoutMs })
    return new Neighbour({
      peerId: peer,
      framed,
      outbound,
      sendQueueSize: this.config.sendQueueSize,
      queryRatePerSec: this.config.queryRatePerSec,
      queryBurst: this.config.queryBurst,
      maxThrottledPerWindow: this.config.maxThrottledPerWindow,
      floodWindowMs: this.config.floodWindowMs,
      onSent: (n, msg) => { this.sent(n, msg) },
      onShed: (n, msg) => {
        this.inc(msg.type === MessageType.QUERY ? 'shedQueries' : 'droppedQueueFull')
        this.log.debug({ peer: n.peerId, type: MESSAGE_NAMES[msg.type] }, 'send queue full: message shed')
      }
    })
  }

  /** Refuses a link: a PONG with other hosts to try (Gnutella 0.6's X-Try), then BYE. */
  private refuse (peer: string, stream: Stream, code: ByeCode, reason: string): void {
    const n = this.newNeighbour(peer, stream, false)
    if (code === ByeCode.FULL) n.send({ type: MessageType.PONG, bytes: encodePong(0, this.pongEntries(peer)) })
    n.close(code, reason)
    this.inc(`refused.${BYE_NAMES[code]}`)
    setTimeout(() => { n.abort(new TimeoutError('refused link')) }, 2000).unref()
  }

  /**
   * Registers a link. Both peers may dial each other at once: of two links
   * between the same peers, the one dialled by the smaller peer id survives
   * (both sides decide the same way); the other is closed with BYE DUPLICATE.
   */
  private attach (peer: string, stream: Stream, outbound: boolean): Neighbour {
    const n = this.newNeighbour(peer, stream, outbound)
    const existing = this.links.get(peer)
    if (existing !== undefined) {
      const dialer = (x: { outbound: boolean }): string => x.outbound ? this.self : peer
      const keepNew = dialer(n) !== dialer(existing) && dialer(n) < dialer(existing)
      const loser = keepNew ? existing : n
      if (!keepNew) {
        loser.fail(new LinkClosedError('already linked to this peer'))
        loser.close(ByeCode.DUPLICATE, 'already linked')
        setTimeout(() => { loser.abort(new TimeoutError('duplicate link')) }, 2000).unref()
        return loser
      }
      this.links.delete(peer)
      loser.close(ByeCode.DUPLICATE, 'already linked')
    }
    this.links.set(peer, n)
    this.inc('neighboursAdded')
    this.log.info({ peer, outbound, neighbours: this.links.size }, 'neighbour linked')
    n.run().catch(err => { this.log.debug({ peer, err: err.message }, 'link writer ended') })
    n.send({ type: MessageType.PING, bytes: encodePing(n.helloNonce) })
    this.readLoop(n).catch(() => {})
    return n
  }

  private async readLoop (n: Neighbour): Promise<void> {
    let why = 'closed by the remote'
    // time spent handling messages since the last turn given back (waiting in read() does not count)
    let busyMs = 0
    let handled: number | undefined
    try {
      while (true) {
        if (handled !== undefined) busyMs += performance.now() - handled
        if (busyMs >= this.config.readTurnMs) {
          await new Promise(resolve => setImmediate(resolve))
          busyMs = 0
        }
        const bytes = await n.framed.read()
        handled = performance.now()
        if (bytes === undefined) break
        n.lastReceived = performance.now()
        let msg
        try {
          msg = decodeMessage(bytes)
        } catch (err: any) {
          this.stats.message('flood', 'in', 'INVALID', bytes.byteLength)
          this.inc('droppedInvalid')
          why = `protocol error: ${err.message}`
          n.close(ByeCode.PROTOCOL_ERROR, err.message, true)
          break
        }
        this.stats.message('flood', 'in', MESSAGE_NAMES[msg.type], bytes.byteLength)
        if (n.isClosing && msg.type !== MessageType.BYE) continue
        switch (msg.type) {
          case MessageType.PING:
            n.send({ type: MessageType.PONG, bytes: encodePong(msg.nonce, this.pongEntries(n.peerId)) })
            break
          case MessageType.PONG:
            // the answer to our first PING confirms the link (a refusal's PONG carries nonce 0)
            if (msg.nonce === n.helloNonce) n.confirm()
            for (const e of msg.entries) {
              if (e.peerId === this.self) continue
              if (e.peerId === n.peerId) n.entry = e
              this.hostCache.add(e)
            }
            break
          case MessageType.QUERY:
            this.onQuery(n, msg)
            break
          case MessageType.QUERY_HIT:
            this.onHit(n, msg, bytes)
            break
          case MessageType.RELAY_REQUEST:
            this.onRelayRequest(n, msg)
            break
          case MessageType.RELAY_REPLY:
            this.onRelayReply(msg, bytes)
            break
          case MessageType.BYE:
            why = `BYE ${BYE_NAMES[msg.code]}${msg.reason !== '' ? `: ${msg.reason}` : ''}`
            if (msg.code === ByeCode.FULL) this.hostCache.failed(n.peerId, performance.now())
            n.end()
            return
        }
      }
    } catch (err: any) {
      why = err.message
    } finally {
      this.unlink(n, why)
    }
  }

  private unlink (n: Neighbour, why: string): void {
    n.fail(new LinkClosedError(`link to ${n.peerId} ended: ${why}`))
    if (this.links.get(n.peerId) !== n) return
    this.links.delete(n.peerId)
    if (!n.isClosing) n.abort(new TimeoutError(why))
    this.inc('neighboursLost')
    this.log.info({ peer: n.peerId, why, neighbours: this.links.size }, 'neighbour lost')
    // replace it from the host cache now rather than at the next tick
    if (this.started && this.links.size < this.config.minNeighbours) setImmediate(() => { this.maintain() })
  }

  private pongEntries (to: string): PeerEntry[] {
    const entries = [this.ownEntry()]
    for (const n of this.links.values()) {
      if (entries.length >= MAX_PONG_ENTRIES / 2) break
      if (n.peerId !== to && n.entry !== undefined) entries.push(n.entry)
    }
    const have = new Set(entries.map(e => e.peerId))
    entries.push(...this.hostCache.sample(MAX_PONG_ENTRIES - entries.length, id => id === to || have.has(id)))
    return entries
  }

  private sent (n: Neighbour, msg: Outgoing): void {
    this.stats.message('flood', 'out', MESSAGE_NAMES[msg.type], msg.bytes.byteLength)
    if (msg.queryId !== undefined) {
      const entry = this.router.seen.get(msg.queryId)
      if (entry !== undefined) entry.sentTo.set(n.peerId, (entry.sentTo.get(n.peerId) ?? 0) + 1)
    }
  }

  // ---- queries and hits ------------------------------------------------------

  private onQuery (n: Neighbour, q: Query): void {
    const id = idHex(q.id)
    // a first copy from this neighbour of a query another neighbour already brought costs a lookup and nothing
    // more: it is not charged to the rate, or honest neighbours relaying one attacker's queries would throttle
    // each other. A neighbour repeating an id itself is charged: an honest one sends each id at most once.
    const known = this.router.seen.get(id)
    if (known !== undefined && !known.heardFrom.has(n.peerId)) {
      this.inc('queriesReceived')
      this.router.onQuery(id, n.peerId, q.ttl, q.hops)
      this.inc('droppedDuplicate')
      // the neighbour has the query: a copy still waiting in its queue need not cross the link back
      if (n.cancelQuery(id)) this.inc('queriesCancelled')
      return
    }
    const admission = n.admitQuery()
    if (admission !== 'ok') {
      this.inc('droppedThrottled')
      if (admission === 'drop') {
        this.inc('neighboursDroppedForFlooding')
        this.ban(n.peerId)
        this.log.warn({ peer: n.peerId, throttled: n.throttledQueries }, 'neighbour dropped and banned for flooding queries')
        n.close(ByeCode.FLOODING, `more than ${this.config.queryRatePerSec} queries/s`, true)
      } else if (n.throttledQueries === 1) {
        this.log.warn({ peer: n.peerId, rate: this.config.queryRatePerSec }, 'neighbour throttled: query rate above the limit')
      }
      return
    }
    this.inc('queriesReceived')
    const d = this.router.onQuery(id, n.peerId, q.ttl, q.hops)
    if (d.action === 'duplicate') {
      this.inc('droppedDuplicate')
      // the neighbour has the query: a copy still waiting in its queue need not cross the link back
      if (n.cancelQuery(id)) this.inc('queriesCancelled')
      return
    }
    if (d.clamped) this.inc('ttlClamped')
    if (d.action === 'expired') { this.inc('droppedTtl'); return }
    this.answer(n, q)
    if (d.forward === undefined) { this.inc('droppedTtl'); return }
    const bytes = encodeQuery({ id: q.id, ttl: d.forward.ttl, hops: d.forward.hops, text: q.text })
    for (const peer of this.router.forwardTargets(d.entry, this.links.keys())) {
      if (this.links.get(peer)?.send({ type: MessageType.QUERY, bytes, queryId: id }) === true) this.inc('queriesForwarded')
    }
  }

  /** QUERY_HITs for our matching files, to the neighbour the query came from. */
  private answer (n: Neighbour, q: Query): void {
    const found = this.files().filter(f => matches(f, q.text)).map(f => ({ cid: f.cid, name: f.name, size: f.size }))
    if (found.length === 0) return
    const responder = this.ownEntry()
    for (let i = 0; i < found.length; i += MAX_HIT_FILES) {
      const bytes = encodeQueryHit({ id: q.id, responder, files: found.slice(i, i + MAX_HIT_FILES) })
      if (n.send({ type: MessageType.QUERY_HIT, bytes })) this.inc('hitsSent')
    }
  }

  private onHit (n: Neighbour, hit: QueryHit, bytes: Uint8Array): void {
    const id = idHex(hit.id)
    const d = this.router.onHit(id)
    if (d.action === 'local' || d.action === 'route') {
      setBounded(this.toward, hit.responder.peerId, n.peerId, this.config.providerCacheSize)
    }
    switch (d.action) {
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
        search.onHit(hit)
        return
      }
      case 'route': {
        const back = this.links.get(d.to)
        if (back === undefined) { this.inc('droppedNoRoute'); return }
        if (back.send({ type: MessageType.QUERY_HIT, bytes })) this.inc('hitsRouted')
      }
    }
  }

  /**
   * Floods a query and collects the hits until the timeout (or the signal).
   * Throws NoNeighboursError when there is no one to ask.
   */
  async search (text: string, opts: FloodSearchOptions): Promise<SearchHit[]> {
    if (!this.started) throw new NotStartedError('flood service not started')
    const q = text.trim()
    const size = Buffer.byteLength(q)
    if (size < 1 || size > MAX_QUERY_BYTES) throw new InvalidOptionError(`a flood query has 1 to ${MAX_QUERY_BYTES} bytes, not ${size}`)
    if (this.links.size === 0) throw new NoNeighboursError('no overlay neighbours to flood the query to (give --bootstrap)')
    const idBytes = randomBytes(16)
    const id = idHex(idBytes)
    const { ttl, entry } = this.router.originate(id, opts.ttl ?? this.config.defaultTtl)
    this.inc('queriesOriginated')
    const hits: SearchHit[] = []
    const started = performance.now()
    const done = new AbortController()
    const signals = [done.signal, AbortSignal.timeout(opts.timeoutMs), ...(opts.signal !== undefined ? [opts.signal] : [])]
    const until = AbortSignal.any(signals)
    let firstHitMs: number | undefined
    this.searches.set(id, {
      onHit: (msg) => {
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
      }
    })
    try {
      const bytes = encodeQuery({ id: idBytes, ttl, hops: 0, text: q })
      for (const peer of this.router.forwardTargets(entry, this.links.keys())) {
        this.links.get(peer)?.send({ type: MessageType.QUERY, bytes, queryId: id })
      }
      this.log.debug({ id, ttl, query: q }, 'query flooded')
      if (!until.aborted) await new Promise(resolve => until.addEventListener('abort', resolve, { once: true }))
    } finally {
      this.searches.delete(id)
    }
    this.log.info({ id, ttl, hits: hits.length, firstHitMs: firstHitMs === undefined ? undefined : Math.round(firstHitMs) }, 'search done')
    return hits
  }

  // ---- in-band transfer (Gnutella's "peer-to-peer over the peer model") -------

  /** Whether a relay path toward `peer` is known (a hit from it came through a neighbour still linked). */
  hasPathTo (peer: string): boolean {
    const via = this.toward.get(peer)
    return via !== undefined && this.links.has(via)
  }

  /**
   * Asks `target` for a range of a chunk (or of the manifest, index
   * MANIFEST_INDEX) along the path its hits came by; every hop relays.
   */
  async relayFetch (target: string, cid: string, index: number, offset: number, length: number, signal?: AbortSignal): Promise<{ total: number, data: Uint8Array }> {
    const via = this.toward.get(target)
    const link = via === undefined ? undefined : this.links.get(via)
    if (link === undefined) throw new NotFoundError(`no overlay path to ${target} (search first)`)
    const idBytes = randomBytes(16)
    const id = idHex(idBytes)
    const deadline = AbortSignal.any([AbortSignal.timeout(RELAY_TIMEOUT_MS), ...(signal !== undefined ? [signal] : [])])
    const reply = await new Promise<RelayReply>((resolve, reject) => {
      const onAbort = (): void => {
        this.relayPending.delete(id)
        reject(new TimeoutError(`relayed request to ${target} unanswered`))
      }
      if (deadline.aborted) { onAbort(); return }
      deadline.addEventListener('abort', onAbort, { once: true })
      this.relayPending.set(id, (r) => {
        deadline.removeEventListener('abort', onAbort)
        this.relayPending.delete(id)
        resolve(r)
      })
      const bytes = encodeRelayRequest({ id: idBytes, ttl: this.config.maxTtl, target, cid, index, offset, length })
      if (!link.send({ type: MessageType.RELAY_REQUEST, bytes })) onAbort()
    })
    if (reply.status === RelayStatus.NOT_FOUND) throw new NotFoundError(`${target}: ${reply.error ?? 'not found'}`)
    if (reply.status !== RelayStatus.OK) throw new RemoteError(`${target}: ${reply.error ?? 'error'}`)
    this.inc('relayBytesFetched', reply.data?.byteLength ?? 0)
    return { total: reply.total, data: reply.data ?? new Uint8Array(0) }
  }

  private onRelayRequest (n: Neighbour, r: RelayRequest): void {
    const id = idHex(r.id)
    const answer = (status: RelayStatus, total: number, data?: Uint8Array, error?: string): void => {
      n.send({ type: MessageType.RELAY_REPLY, bytes: encodeRelayReply({ id: r.id, status, total, data, error }) })
    }
    if (r.target === this.self) {
      this.serveRelay(r).then(({ total, data }) => {
        this.inc('relayRangesServed')
        answer(RelayStatus.OK, total, data)
      }, (err: any) => {
        answer(err instanceof NotFoundError ? RelayStatus.NOT_FOUND : RelayStatus.ERROR, 0, undefined, err.message)
      })
      return
    }
    const via = this.toward.get(r.target)
    const next = via === undefined ? undefined : this.links.get(via)
    if (next === undefined || next === n || r.ttl <= 1) {
      this.inc('relayNoRoute')
      answer(RelayStatus.NOT_FOUND, 0, undefined, 'no path to the target')
      return
    }
    setBounded(this.relayRoutes, id, n.peerId, this.config.seenCacheSize)
    if (next.send({ type: MessageType.RELAY_REQUEST, bytes: encodeRelayRequest({ ...r, ttl: r.ttl - 1 }) })) this.inc('relayRequestsForwarded')
  }

  private onRelayReply (r: RelayReply, bytes: Uint8Array): void {
    const id = idHex(r.id)
    const from = this.relayRoutes.get(id)
    if (from !== undefined) {
      this.relayRoutes.delete(id)
      if (this.links.get(from)?.send({ type: MessageType.RELAY_REPLY, bytes }) === true) {
        this.inc('relayRepliesForwarded')
        this.inc('relayBytesForwarded', r.data?.byteLength ?? 0)
      }
      return
    }
    const pending = this.relayPending.get(id)
    if (pending === undefined) { this.inc('droppedUnknownRelay'); return }
    pending(r)
  }

  private async serveRelay (r: RelayRequest): Promise<{ total: number, data: Uint8Array }> {
    if (this.store === undefined) throw new NotFoundError('not shared here')
    let whole: Uint8Array
    if (r.index === MANIFEST_INDEX) {
      const m = this.store.getManifest(r.cid)
      if (m === undefined || !this.files().some(f => f.cid === r.cid)) throw new NotFoundError('not shared here')
      whole = m.bytes
    } else {
      if (!this.files().some(f => f.cid === r.cid)) throw new NotFoundError('not shared here')
      // the ranges of one chunk come one after another: read it once
      const key = `${r.cid}/${r.index}`
      if (this.lastChunk?.key !== key) this.lastChunk = { key, data: this.store.readChunk(r.cid, r.index) }
      whole = await this.lastChunk.data
    }
    if (r.offset > whole.byteLength) throw new InvalidOptionError(`offset ${r.offset} past the end (${whole.byteLength})`)
    return { total: whole.byteLength, data: whole.subarray(r.offset, Math.min(whole.byteLength, r.offset + r.length)) }
  }

  // ---- overlay maintenance ---------------------------------------------------

  /** Keepalive and dead-link detection, bootstrap retries, top-up from the host cache. */
  private maintain (): void {
    if (!this.started) return
    const now = performance.now()
    for (const n of this.links.values()) {
      if (now - n.lastReceived > this.config.idleTimeoutMs) {
        n.abort(new TimeoutError(`nothing received for ${this.config.idleTimeoutMs} ms`))
      } else if (now - n.lastSent > this.config.keepaliveMs) {
        n.send({ type: MessageType.PING, bytes: encodePing(Math.floor(Math.random() * 2 ** 32)) })
      }
    }
    for (const b of this.bootstrap) {
      if (b.done || b.busy || now < b.nextAt) continue
      let target: Multiaddr
      try {
        target = multiaddr(b.addr)
      } catch (err: any) {
        b.done = true
        this.log.warn({ addr: b.addr, err: err.message }, 'invalid bootstrap address')
        continue
      }
      b.busy = true
      this.connect(target).then(peer => {
        b.done = true
        this.log.debug({ addr: b.addr, peer }, 'bootstrap linked')
      }, err => {
        b.nextAt = performance.now() + b.backoffMs
        b.backoffMs = Math.min(b.backoffMs * 1.5, BOOTSTRAP_MAX_RETRY_MS)
        this.log.debug({ addr: b.addr, err: err.message }, 'bootstrap link failed; will retry')
      }).finally(() => { b.busy = false })
    }
    const deficit = this.config.minNeighbours - this.links.size - this.dialing.size
    if (deficit <= 0) return
    const candidates = this.hostCache.candidates(deficit, now, this.config.retryMs,
      peer => peer !== this.self && !this.links.has(peer) && !this.dialing.has(peer) && !this.isBanned(peer))
    for (const c of candidates) {
      let addrs: Multiaddr[]
      try {
        addrs = c.addrs.map(a => multiaddr(`${a}/p2p/${c.peerId}`))
      } catch {
        this.hostCache.delete(c.peerId)
        continue
      }
      this.dialing.add(c.peerId)
      this.connect(addrs).then(() => {
        this.inc('neighboursFromHostCache')
      }, err => {
        this.hostCache.failed(c.peerId, performance.now())
        this.log.debug({ peer: c.peerId, err: err.message }, 'host cache candidate failed')
      }).finally(() => { this.dialing.delete(c.peerId) })
    }
  }

  /** State for `sedai stats`: neighbours, caches and the recent queries' per-link message counts. */
  snapshot (): Record<string, unknown> {
    return {
      neighbourCount: this.links.size,
      neighbours: [...this.links.values()].map(n => ({
        peerId: n.peerId,
        outbound: n.outbound,
        queued: n.queued,
        queriesIn: n.queriesIn,
        throttled: n.throttled,
        throttledQueries: n.throttledQueries
      })),
      hostCache: this.hostCache.size,
      seenCache: this.router.seen.size,
      banned: [...this.banned.keys()].filter(p => this.isBanned(p)),
      recentQueries: this.router.seen.recent(this.config.statsQueries).map(([id, e]) => {
        const sentTo = Object.fromEntries([...e.sentTo].filter(([, c]) => c > 0))
        return {
          id,
          origin: e.from === LOCAL,
          from: e.from === LOCAL ? undefined : e.from,
          ttl: e.ttl,
          hops: e.hops,
          received: e.received,
          sent: Object.values(sentTo).reduce((a, b) => a + b, 0),
          sentTo,
          hits: e.hits
        }
      })
    }
  }
}


function validCid (f: HitFile): boolean {
  try {
    parseCid(f.cid)
    return true
  } catch {
    return false
  }
}
