/**
 * The directory server (Gen 1's centre, as Napster's): peers keep a session
 * stream open, register their shared lists and addresses, and ask who has
 * what; files then move directly between the peers (/sedai/transfer/1.0.0).
 *
 * Liveness: a peer is live while a session stream of it is open. Its entries
 * outlive the session by `graceMs` counted from its last message (heartbeats
 * keep it fresh), so a reconnecting peer keeps its place and a vanished one
 * drops out within the grace period. A restarted server loads its index and
 * gives every peer it remembers `graceMs` from the restart to come back; a
 * peer whose list digest still matches is live again without re-sending it.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { multiaddr } from '@multiformats/multiaddr'
import { FrameTooLargeError, FramedStream, InvalidMessageError, SedaiError, parseCid, safeFileName } from '@sedai/core'
import { DIRECTORY_PROTOCOL, MAX_SESSION_PEERS } from './constants.ts'
import { PeerLimitError, RefusedError } from './errors.ts'
import { DirectoryIndex } from './index-db.ts'
import { Outbox } from './outbox.ts'
import { QUERY_TYPES, Status, decodeRequest, encodeMessage, encodeRaw, encodeSearchReply, peekId } from './messages.ts'
import { matchExpression } from './terms.ts'
import type { DirectoryConfig } from './config.ts'
import type { PeerRecord } from './index-db.ts'
import type { Browse, FileTuple, Hello, Lookup, Ping, Register, Reply, Request, Search, Unregister } from './messages.ts'
import type { Connection, Stream } from '@libp2p/interface'
import type { Logger, SearchHit, SedaiLibp2p, Stats } from '@sedai/core'

/** The database file inside the server's repo. */
export const DIRECTORY_DB = 'directory.db'

/** A token bucket counting messages. */
export class TokenBucket {
  private readonly rate: number
  private readonly burst: number
  private tokens: number
  private last = performance.now()

  /** `rate` per second; 0 = unlimited */
  constructor (rate: number, burst: number) {
    this.rate = rate
    this.burst = Math.max(1, burst)
    this.tokens = this.burst
  }

  /** Takes one token: 0 when granted, else the ms until one is available (nothing taken). */
  take (): number {
    if (this.rate <= 0) return 0
    const now = performance.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.rate / 1000)
    this.last = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 0
    }
    return Math.ceil((1 - this.tokens) * 1000 / this.rate)
  }
}

/** Per-peer state the server keeps in memory (the index keeps the rest). */
interface PeerState {
  peerId: string
  /** open session streams */
  sessions: number
  /** last message received (ms since epoch); entries expire `graceMs` after it when no session is open */
  lastSeen: number
  query: TokenBucket
  control: TokenBucket
  /** a removal in progress (expired peer), which writes of the same peer wait for */
  removing?: Promise<void>
}

/** A ring of recent latencies for p50/p99. */
class Latencies {
  private readonly values: Float64Array
  private n = 0

  constructor (size: number) {
    this.values = new Float64Array(Math.max(1, size))
  }

  add (ms: number): void {
    this.values[this.n % this.values.length] = ms
    this.n++
  }

  summary (): { p50: number, p99: number, max: number, samples: number } | undefined {
    const count = Math.min(this.n, this.values.length)
    if (count === 0) return undefined
    const sorted = this.values.slice(0, count).sort()
    const at = (q: number): number => Math.round(sorted[Math.min(count - 1, Math.floor(q * count))] * 1000) / 1000
    return { p50: at(0.5), p99: at(0.99), max: at(1), samples: count }
  }
}

export interface DirectoryServerInit {
  node: SedaiLibp2p<any>
  repo: string
  config: DirectoryConfig
  stats: Stats
  logger: Logger
}

interface CachedSearch { generation: number, hits: Uint8Array, peers: number[] }

export class DirectoryServer {
  private readonly node: SedaiLibp2p<any>
  private readonly config: DirectoryConfig
  private readonly counters: Stats
  private readonly log: Logger
  private readonly dbPath: string
  private index?: DirectoryIndex
  private readonly states = new Map<string, PeerState>()
  private readonly latencies: Latencies
  private readonly cache = new Map<string, CachedSearch>()
  private readonly peerJson = new Map<number, { addrs: string[], live: boolean, json: Uint8Array }>()
  private sweeper?: NodeJS.Timeout
  private maintenance?: NodeJS.Timeout
  private readonly streams = new Set<FramedStream>()
  private stopped = false
  private readonly startedAt = Date.now()
  private readonly counts = {
    searches: 0,
    searchCacheHits: 0,
    lookups: 0,
    browses: 0,
    registers: 0,
    filesRegistered: 0,
    unregisters: 0,
    resumedSessions: 0,
    fullRegistrations: 0,
    rateLimited: 0,
    invalidMessages: 0,
    refused: 0,
    expiredPeers: 0,
    /** states dropped to make room (maxPeerStates), and sessions refused for want of room */
    evictedStates: 0,
    refusedSessions: 0,
    /** replies sent, and the writes that carried them (several replies share one when requests are pipelined) */
    replies: 0,
    replyWrites: 0
  }

  constructor (init: DirectoryServerInit) {
    this.node = init.node
    this.config = init.config
    this.counters = init.stats
    this.log = init.logger.child({ component: 'directory-server' })
    this.dbPath = join(init.repo, DIRECTORY_DB)
    this.latencies = new Latencies(init.config.latencyWindow)
  }

  async start (): Promise<void> {
    const index = new DirectoryIndex(this.dbPath, { providersPerHit: this.config.providersPerHit, hitCacheEntries: this.config.hitCacheEntries })
    this.index = index
    // every remembered peer gets a grace period from now to come back
    const now = Date.now()
    for (const peer of index.peers()) this.states.set(peer.peerId, this.newState(peer.peerId, now))
    await this.node.handle(DIRECTORY_PROTOCOL, (stream: Stream, connection: Connection) => {
      this.serve(stream, connection).catch(err => {
        this.log.debug({ peer: connection.remotePeer.toString(), err: err.message }, 'session failed')
      })
    }, { maxInboundStreams: this.config.maxStreamsPerConnection, maxOutboundStreams: 1 })
    const sweepMs = Math.max(50, Math.min(1_000, Math.floor(this.config.graceMs / 8)))
    this.sweeper = setInterval(() => { this.sweep() }, sweepMs)
    this.sweeper.unref()
    this.maintenance = setInterval(() => { this.maintain() }, this.config.mergeIntervalMs)
    this.maintenance.unref()
    this.log.info({ db: this.dbPath, peers: index.peerCount, files: index.files, heartbeatMs: this.config.heartbeatMs, graceMs: this.config.graceMs }, 'directory index open')
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.sweeper)
    clearInterval(this.maintenance)
    await this.node.unhandle(DIRECTORY_PROTOCOL).catch(() => {})
    for (const s of this.streams) s.abort(new SedaiError('directory server stopping'))
    // removals in progress finish their current batch and stop at the next check
    await Promise.all([...this.states.values()].map(async s => { await s.removing?.catch(() => {}) }))
    this.index?.close()
    this.index = undefined
  }

  private get db (): DirectoryIndex {
    if (this.index === undefined) throw new SedaiError('directory server not started')
    return this.index
  }

  private newState (peerId: string, lastSeen: number): PeerState {
    return {
      peerId,
      sessions: 0,
      lastSeen,
      query: new TokenBucket(this.config.queryRate, this.config.queryBurst),
      control: new TokenBucket(this.config.controlRate, this.config.controlBurst)
    }
  }

  /** The peer's state, made when missing; undefined when the table is full of peers that are online or registered. */
  private state (peerId: string): PeerState | undefined {
    let s = this.states.get(peerId)
    if (s === undefined) {
      if (this.states.size >= this.config.maxPeerStates && !this.evictState()) return undefined
      s = this.newState(peerId, Date.now())
      this.states.set(peerId, s)
    }
    return s
  }

  /** Drops the oldest state (in first-seen order) of a peer with no session and nothing registered; false when there is none. */
  private evictState (): boolean {
    for (const s of this.states.values()) {
      if (s.sessions > 0 || s.removing !== undefined || this.db.peer(s.peerId) !== undefined) continue
      this.states.delete(s.peerId)
      this.counts.evictedStates++
      return true
    }
    return false
  }

  /** One session stream: requests answered in order until the peer closes it or goes quiet for `graceMs`. */
  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString()
    const framed = new FramedStream(stream, { maxFrameBytes: this.config.maxRequestFrameBytes, idleTimeoutMs: this.config.graceMs })
    const state = this.state(peerId)
    if (state === undefined) {
      this.counts.refusedSessions++
      this.log.warn({ peer: peerId, states: this.states.size }, 'session refused: the peer table is full')
      await framed.write(encodeMessage({ id: 0, status: Status.ERROR, error: `the directory tracks ${this.config.maxPeerStates} peers at most and is full; try again later` }))
        .then(async () => { await framed.close() })
        .catch(() => { framed.abort(new PeerLimitError('peer table full')) })
      return
    }
    this.streams.add(framed)
    state.sessions++
    state.lastSeen = Date.now()
    this.liveChanged(peerId)
    this.log.debug({ peer: peerId }, 'session opened')
    // replies go out once per turn of the event loop, several in one write when
    // the peer has several requests in flight
    const outbox = new Outbox(framed, err => { framed.abort(err) }, frames => { this.counts.replies += frames; this.counts.replyWrites++ })
    // the peer-table entries this session has been sent (by peer row), so each goes once
    const sentPeers = new Map<number, Uint8Array>()
    // time spent answering this session since it last gave the event loop a turn
    let busyMs = 0
    try {
      while (!this.stopped) {
        let bytes: Uint8Array | undefined
        try {
          bytes = await framed.read()
        } catch (err: any) {
          if (err instanceof InvalidMessageError) {
            // an oversized or truncated frame: the stream cannot be read further
            this.counts.invalidMessages++
            if (err instanceof FrameTooLargeError) this.counts.refused++
            this.log.info({ peer: peerId, err: err.message }, 'refused a frame; closing the session')
            outbox.push(encodeMessage({ id: 0, status: Status.ERROR, error: err.message }))
            outbox.flush()
            await outbox.ready()
            await framed.close()
            return
          }
          throw err
        }
        if (bytes === undefined) break
        state.lastSeen = Date.now()
        const started = performance.now()
        const { reply, type, throttleMs } = await this.handle(state, connection, bytes, sentPeers)
        outbox.push(reply)
        const took = performance.now() - started
        if (type === 'SEARCH') this.latencies.add(took)
        busyMs += took
        if (throttleMs > 0) {
          outbox.flush()
          await sleep(throttleMs)
          busyMs = 0
        } else if (busyMs >= this.config.sessionTurnMs) {
          // back to the event loop before this session's next request (which may be
          // buffered already): other sessions, and libp2p's pings, get their turn
          await new Promise(resolve => setImmediate(resolve))
          busyMs = 0
        }
        // the peer does not read its replies: stop reading its requests
        await outbox.ready()
      }
      outbox.flush()
      await framed.close()
    } finally {
      this.streams.delete(framed)
      state.sessions--
      this.liveChanged(peerId)
      this.log.debug({ peer: peerId }, 'session closed')
    }
  }

  /** Decodes, rate-limits and answers one request. Never throws for anything the peer sent. */
  private async handle (state: PeerState, connection: Connection, bytes: Uint8Array, sentPeers: Map<number, Uint8Array>): Promise<{ reply: Uint8Array, type?: string, throttleMs: number }> {
    let req: Request
    try {
      req = decodeRequest(bytes, this.config)
    } catch (err: any) {
      this.counts.invalidMessages++
      return { reply: encodeMessage({ id: peekId(bytes), status: Status.ERROR, error: err.message }), throttleMs: 0 }
    }
    this.counters.message('directory', 'in', req.type, bytes.byteLength)
    const bucket = QUERY_TYPES.has(req.type) ? state.query : state.control
    const wait = bucket.take()
    if (wait > 0) {
      this.counts.rateLimited++
      const reply = encodeMessage({ id: req.id, status: Status.RATE_LIMITED, error: `rate limit: at most ${QUERY_TYPES.has(req.type) ? this.config.queryRate : this.config.controlRate} ${QUERY_TYPES.has(req.type) ? 'queries' : 'control messages'} per second`, retryAfterMs: wait })
      return { reply, type: req.type, throttleMs: Math.min(wait, this.config.maxThrottleMs) }
    }
    let reply: Uint8Array
    try {
      reply = await this.answer(state, connection, req, sentPeers)
    } catch (err: any) {
      const expected = err instanceof InvalidMessageError || err instanceof PeerLimitError || err instanceof RefusedError
      if (expected) this.counts.refused++
      else this.log.warn({ peer: state.peerId, type: req.type, err: err.message }, 'request failed')
      reply = encodeMessage({ id: req.id, status: Status.ERROR, error: expected ? err.message : `server error: ${String(err.message).slice(0, 200)}` })
    }
    this.counters.message('directory', 'out', req.type, reply.byteLength)
    return { reply, type: req.type, throttleMs: 0 }
  }

  private async answer (state: PeerState, connection: Connection, req: Request, sentPeers: Map<number, Uint8Array>): Promise<Uint8Array> {
    switch (req.type) {
      case 'HELLO': return await this.hello(state, connection, req)
      case 'REGISTER': return await this.register(state, connection, req)
      case 'UNREGISTER': return await this.unregister(state, req)
      case 'PING': return this.ping(state, req)
      case 'SEARCH': return this.search(req, sentPeers)
      case 'LOOKUP': return this.lookup(req)
      case 'BROWSE': return this.browse(req)
    }
  }

  /** The claimed peer id, if any, must be the Noise-authenticated one. */
  private checkClaim (claimed: string | undefined, peerId: string): void {
    if (claimed !== undefined && claimed !== peerId) {
      throw new RefusedError(`refused: this session is authenticated as ${peerId}; a peer registers only itself, not ${claimed.slice(0, 64)}`)
    }
  }

  /** Dialable addresses for `peerId`: parsed, at most maxAddrs, each ending in /p2p/<peerId>. */
  private checkAddrs (addrs: string[], peerId: string): string[] {
    const out: string[] = []
    for (const addr of addrs) {
      if (addr.length > this.config.maxAddrChars) throw new InvalidMessageError(`address longer than ${this.config.maxAddrChars} characters`)
      let ma
      try {
        ma = multiaddr(addr)
      } catch {
        throw new InvalidMessageError(`${JSON.stringify(addr.slice(0, 64))} is not a multiaddr`)
      }
      const p2p = ma.getComponents().filter(c => c.name === 'p2p').pop()
      if (p2p !== undefined && p2p.value !== peerId) {
        throw new RefusedError(`refused: address ${addr.slice(0, 128)} belongs to another peer; a peer registers only its own addresses`)
      }
      const full = p2p === undefined ? ma.encapsulate(`/p2p/${peerId}`).toString() : ma.toString()
      if (!out.includes(full)) out.push(full)
    }
    return out
  }

  /** Waits for a removal of this peer still running (it expired just before coming back). */
  /** A peer not yet in the index is refused once the index holds maxPeers. */
  private checkRoom (peerId: string): void {
    if (this.db.peer(peerId) === undefined && this.db.peerCount >= this.config.maxPeers) {
      throw new PeerLimitError(`the directory indexes ${this.config.maxPeers} peers at most and is full`)
    }
  }

  private async settled (state: PeerState): Promise<void> {
    while (state.removing !== undefined) await state.removing.catch(() => {})
  }

  private async hello (state: PeerState, connection: Connection, req: Hello): Promise<Uint8Array> {
    const peerId = connection.remotePeer.toString()
    this.checkClaim(req.peerId, peerId)
    const addrs = this.checkAddrs(req.addrs, peerId)
    await this.settled(state)
    this.checkRoom(peerId)
    const peer = this.db.upsertPeer(peerId, addrs)
    const known = req.digest !== undefined && peer.digest !== null && peer.digest === req.digest
    if (known) this.counts.resumedSessions++
    this.log.info({ peer: peerId, known, files: peer.files, addrs }, known ? 'peer is back with the list it had' : 'peer logged in')
    return encodeMessage({
      id: req.id,
      status: Status.OK,
      known,
      files: peer.files,
      heartbeatMs: this.config.heartbeatMs,
      graceMs: this.config.graceMs,
      limits: {
        maxFilesPerRegister: this.config.maxFilesPerRegister,
        maxFilesPerPeer: this.config.maxFilesPerPeer,
        maxNameBytes: this.config.maxNameBytes,
        maxResults: this.config.maxResults,
        maxRequestFrameBytes: this.config.maxRequestFrameBytes,
        queryRate: this.config.queryRate
      }
    })
  }

  private async register (state: PeerState, connection: Connection, req: Register): Promise<Uint8Array> {
    const peerId = connection.remotePeer.toString()
    this.checkClaim(req.peerId, peerId)
    const addrs = req.addrs === undefined ? undefined : this.checkAddrs(req.addrs, peerId)
    const t0 = performance.now()
    // entries that break the rules are skipped and reported; the rest is taken
    const files: FileTuple[] = []
    const rejected: Array<[number, string]> = []
    for (const [i, [cid, name, size]] of req.files.entries()) {
      try {
        if (cid.length > this.config.maxCidChars) throw new InvalidMessageError('cid too long')
        parseCid(cid)
        safeFileName(name, this.config.maxNameBytes)
        if (!Number.isSafeInteger(size) || size < 0) throw new InvalidMessageError('bad size')
        files.push([cid, name, size])
      } catch (err: any) {
        if (rejected.length < 16) rejected.push([i, err.message])
      }
    }
    await this.settled(state)
    this.checkRoom(peerId)
    const peer = this.db.upsertPeer(peerId, addrs)
    // the digest names the peer's list as complete (rejected entries included:
    // they are the peer's, just not indexed); a batch without one leaves it "in progress"
    this.db.setDigest(peer, null)
    const { added } = this.db.register(peer, files, { reset: req.reset, maxFilesPerPeer: this.config.maxFilesPerPeer })
    if (req.digest !== undefined) this.db.setDigest(peer, req.digest)
    this.counts.registers++
    this.counts.filesRegistered += added
    if (req.reset === true) this.counts.fullRegistrations++
    this.log.debug({ peer: peerId, added, sent: req.files.length, rejected: rejected.length, total: peer.files, ms: Math.round(performance.now() - t0) }, 'registered')
    const out: Reply = { id: req.id, status: Status.OK, added, files: peer.files }
    if (rejected.length > 0) out.rejected = rejected
    return encodeMessage(out)
  }

  private async unregister (state: PeerState, req: Unregister): Promise<Uint8Array> {
    await this.settled(state)
    const peer = this.db.peer(state.peerId)
    if (peer === undefined) return encodeMessage({ id: req.id, status: Status.NOT_FOUND, error: 'nothing registered' })
    this.db.setDigest(peer, null)
    const { removed } = this.db.unregister(peer, req.cids)
    if (req.digest !== undefined) this.db.setDigest(peer, req.digest)
    this.counts.unregisters++
    return encodeMessage({ id: req.id, status: Status.OK, removed, files: peer.files })
  }

  private ping (state: PeerState, req: Ping): Uint8Array {
    const peer = this.db.peer(state.peerId)
    const known = peer !== undefined && state.removing === undefined && (req.digest === undefined || peer.digest === req.digest)
    return encodeMessage({ id: req.id, status: Status.OK, known })
  }

  /** `sentPeers`: the session's peer-table entries already sent; the reply carries only the others (and records them). */
  private search (req: Search, sentPeers: Map<number, Uint8Array>): Uint8Array {
    const max = Math.min(req.max ?? this.config.maxResults, this.config.maxResults)
    const match = matchExpression(req.q, this.config)
    this.counts.searches++
    const key = `${max}\u0000${match}`
    let result = this.cache.get(key)
    if (result !== undefined && result.generation === this.db.generation) {
      this.counts.searchCacheHits++
      // refresh its place in the LRU order
      this.cache.delete(key)
      this.cache.set(key, result)
    } else {
      const rows = this.db.search(match, max)
      result = { generation: this.db.generation, hits: rows.json, peers: rows.peers }
      if (this.config.searchCacheEntries > 0) {
        this.cache.delete(key)
        this.cache.set(key, result)
        if (this.cache.size > this.config.searchCacheEntries) this.cache.delete(this.cache.keys().next().value as string)
      }
    }
    // peerEntry gives the same bytes until the peer's addresses or liveness change
    const all = result.peers.map(row => [row, this.peerEntry(row)] as const)
    let fresh = all.filter(([row, entry]) => sentPeers.get(row) !== entry)
    let reset = false
    if (sentPeers.size + fresh.length > Math.min(this.config.maxSessionPeers, MAX_SESSION_PEERS)) {
      sentPeers.clear()
      reset = true
      fresh = all
    }
    for (const [row, entry] of fresh) sentPeers.set(row, entry)
    const entries = fresh.map(([, entry]) => entry)
    return encodeSearchReply(req.id, result.hits, entries, reset)
  }

  /** `sedai search` on the server's own daemon: the index read directly. */
  localSearch (query: string): SearchHit[] {
    const hits = this.db.searchHits(matchExpression(query, this.config), this.config.maxResults)
    this.counts.searches++
    return hits.map(([cid, name, size, , peers]) => ({
      cid,
      name,
      size,
      providers: peers.map(r => this.db.peerByRow(r)).filter(p => p !== undefined).map(p => ({ peerId: p.peerId, addrs: p.addrs }))
    }))
  }

  /** `"row":{"peerId":...,"addrs":[...],"live":bool}`, cached until the peer's addresses or liveness change. */
  private peerEntry (row: number): Uint8Array {
    const peer = this.db.peerByRow(row)
    if (peer === undefined) return encodeRaw(`"${row}":{"peerId":"","addrs":[],"live":false}`)
    const live = (this.states.get(peer.peerId)?.sessions ?? 0) > 0
    const cached = this.peerJson.get(row)
    if (cached !== undefined && cached.addrs === peer.addrs && cached.live === live) return cached.json
    const json = encodeRaw(`"${row}":${JSON.stringify({ peerId: peer.peerId, addrs: peer.addrs, live })}`)
    this.peerJson.set(row, { addrs: peer.addrs, live, json })
    return json
  }

  private liveChanged (peerId: string): void {
    const peer = this.index?.peer(peerId)
    if (peer !== undefined) this.peerJson.delete(peer.row)
  }

  private providerInfo (peer: PeerRecord): { peerId: string, addrs: string[], live: boolean } {
    return { peerId: peer.peerId, addrs: peer.addrs, live: (this.states.get(peer.peerId)?.sessions ?? 0) > 0 }
  }

  private lookup (req: Lookup): Uint8Array {
    if (req.cid.length > this.config.maxCidChars) throw new InvalidMessageError('cid too long')
    this.counts.lookups++
    const max = Math.min(req.max ?? this.config.maxLookupProviders, this.config.maxLookupProviders)
    const { peers, count } = this.db.lookup(req.cid, max)
    const providers = peers.map(row => this.db.peerByRow(row)).filter(p => p !== undefined).map(p => this.providerInfo(p))
    // live providers first: they are the likeliest to answer
    providers.sort((a, b) => Number(b.live) - Number(a.live))
    if (providers.length === 0) return encodeMessage({ id: req.id, status: Status.NOT_FOUND, error: 'no provider registered for this cid', providers: [], count: 0 })
    return encodeMessage({ id: req.id, status: Status.OK, providers, count })
  }

  private browse (req: Browse): Uint8Array {
    this.counts.browses++
    const peer = this.db.peer(req.peerId)
    if (peer === undefined) return encodeMessage({ id: req.id, status: Status.NOT_FOUND, error: 'no such peer in the directory' })
    const max = Math.min(req.max ?? this.config.maxBrowse, this.config.maxBrowse)
    const files = this.db.browse(peer, req.offset ?? 0, max)
    return encodeMessage({ id: req.id, status: Status.OK, ...this.providerInfo(peer), files, total: peer.files })
  }

  /** Drops the peers whose grace period ran out: no session and no message for `graceMs`. */
  private sweep (): void {
    if (this.index === undefined) return
    const deadline = Date.now() - this.config.graceMs
    for (const state of this.states.values()) {
      if (state.sessions > 0 || state.removing !== undefined || state.lastSeen > deadline) continue
      const peer = this.db.peer(state.peerId)
      if (peer === undefined) {
        this.states.delete(state.peerId)
        continue
      }
      this.counts.expiredPeers++
      this.log.info({ peer: state.peerId, files: peer.files, silentMs: Date.now() - state.lastSeen }, 'peer expired: no session within the grace period')
      state.removing = this.remove(peer).finally(() => {
        state.removing = undefined
        if (state.sessions === 0 && this.db.peer(state.peerId) === undefined) this.states.delete(state.peerId)
      })
      state.removing.catch(err => { this.log.warn({ peer: state.peerId, err: err.message }, 'removing an expired peer failed') })
    }
  }

  /** Removes a peer's entries a batch per turn of the event loop, so searches keep flowing meanwhile. */
  private async remove (peer: PeerRecord): Promise<void> {
    while (!this.stopped && this.index !== undefined) {
      if (this.db.removePeer(peer, 500) === 0) return
      await new Promise(resolve => setImmediate(resolve))
    }
  }

  /** Merges FTS5 segments for at most `mergeBudgetMs` per tick. */
  private maintain (): void {
    try {
      const until = performance.now() + this.config.mergeBudgetMs
      const opts = { pages: this.config.mergePages, quietMs: this.config.mergeQuietMs }
      while (performance.now() < until) {
        if (this.index?.maintain(opts) !== true) break
      }
    } catch (err: any) {
      this.log.warn({ err: err.message }, 'index maintenance failed')
    }
  }

  stats (): Record<string, unknown> {
    const db = this.index
    let online = 0
    for (const s of this.states.values()) if (s.sessions > 0) online++
    return {
      peersOnline: online,
      peersKnown: db?.peerCount ?? 0,
      peerStates: this.states.size,
      filesIndexed: db?.files ?? 0,
      entries: db?.shares ?? 0,
      indexSegments: db?.segments() ?? 0,
      searchesServed: this.counts.searches,
      searchLatencyMs: this.latencies.summary() ?? null,
      // searches whose files all came from the hit cache, and those that read them from the tables
      hitCacheHits: db?.hitCounts.hits ?? 0,
      hitCacheMisses: db?.hitCounts.misses ?? 0,
      ...this.counts,
      heartbeatMs: this.config.heartbeatMs,
      graceMs: this.config.graceMs,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000)
    }
  }

  info (): Record<string, unknown> {
    return { role: 'server', protocol: DIRECTORY_PROTOCOL, peersKnown: this.index?.peerCount ?? 0, filesIndexed: this.index?.files ?? 0 }
  }
}
