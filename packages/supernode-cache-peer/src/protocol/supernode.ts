import { multiaddr } from '@multiformats/multiaddr'
import { InvalidMessageError, InvalidOptionError, NotFoundError, RateLimiter, TimeoutError, parseCid, setBounded } from '@sedai/core'
import {
  BYE_NAMES, BanList, BootstrapDialer, ByeCode, CLOSE_GRACE_MS, LinkTable, MAX_HIT_FILES, MessageType, QueryFlood, RelayClient, RelayStatus,
  count, encodeQueryHit, encodeRelayReply, matches, openNeighbour, ownEntry, queryText, readLink, untilLinkUp
} from '@sedai/flooding-peer'
import { capacityScore, leafCapacity, localCapacity } from '../capacity.ts'
import { elect } from '../election.ts'
import { LinkRefusedError, NoSupernodeError, NotStartedError } from '../errors.ts'
import { measureUpload, serveProbe } from './probe.ts'
import { PathRelay } from './relay.ts'
import { MAX_INDEX_FILES_PER_MESSAGE, MAX_INTERESTS, MAX_STATUS_SUPERS, MAX_STREAMS_PER_CONNECTION, PROBE_PROTOCOL, SUPERNODE_PROTOCOL } from './constants.ts'
import { MESSAGE_NAMES, ROLE_NAMES, Role, SuperType, WELCOME_NAMES, Want, Welcome, decodeMessage, encodeHello, encodeIndex, encodeStatus, encodeWelcome } from './messages.ts'
import type { ChunkCache } from '../cache/cache.ts'
import type { SupernodeConfig } from '../config.ts'
import type { RoleName } from '../election.ts'
import type { Message, Status, SuperEntry } from './messages.ts'
import type { ContentStore, Logger, SearchHit, Stats } from '@sedai/core'
import type { HitFile, Neighbour, OverlayComponents, OverlayContext, PeerEntry, Query, RelayRequest, SearchOptions } from '@sedai/flooding-peer'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** What the service needs of a libp2p node (a Libp2p satisfies it). */
export interface SupernodeComponents extends OverlayComponents {
  dialProtocol: (target: PeerId | Multiaddr | Multiaddr[], protocols: string | string[], options?: { signal?: AbortSignal }) => Promise<Stream>
  getPeers: () => PeerId[]
}

export interface SupernodeInit {
  config: SupernodeConfig
  stats: Stats
  logger: Logger
  store: ContentStore
  cache: ChunkCache
  /** `--role`: auto elects by capacity; super and leaf are fixed */
  role: 'auto' | RoleName
  interests: string[]
  bootstrap: string[]
  /** the daemon's upload cap (bytes/s, 0 = none): the probe and every relayed byte obey it */
  uploadRate: number
  /** fault injection: fraction of chunks served from our store corrupted on purpose */
  faultCorrupt: number
}

export type SupernodeSearchOptions = SearchOptions

type LinkKind = 'pending' | 'super' | 'leaf' | 'peer'

/** A link and what we know over it. */
interface Link {
  neighbour: Neighbour
  /** pending until HELLO/WELCOME; then: 'super' = our supernode (we are its leaf), 'leaf' = our leaf, 'peer' = supernode to supernode */
  kind: LinkKind
  want?: Want
  status?: Status
  /** a leaf's shares, as it indexed them here */
  index?: Map<string, HitFile>
  /** why the remote refused the link (its WELCOME result) */
  refused?: string
  /** its relayed requests we are working on */
  relaying: number
}

/** A supernode we know of; `direct` = from its own STATUS, not from another's list. */
interface HostEntry extends SuperEntry { seenAt: number, direct: boolean, failedAt?: number }

/**
 * /sedai/supernode/1.0.0: KaZaA's two-level overlay. Nodes measure their
 * capacity and elect themselves supernodes or leaves; leaves attach to 1-3
 * supernodes and upload their index; supernodes answer for their leaves and
 * flood queries among themselves with the flooding package's rules; the
 * transfer follows the hit's path in-band, and supernodes on the path verify,
 * relay and cache (encrypted) what they carry.
 */
export class SupernodeService {
  readonly protocol = SUPERNODE_PROTOCOL
  readonly config: SupernodeConfig
  private readonly components: SupernodeComponents
  private readonly stats: Stats
  private readonly ctx: OverlayContext
  private readonly log: Logger
  private readonly store: ContentStore
  private readonly cache: ChunkCache
  private readonly roleMode: 'auto' | RoleName
  private readonly interests: string[]
  private readonly self: string
  private readonly limiter?: RateLimiter
  private readonly uploadRate: number
  private readonly relay: PathRelay
  private readonly startedAt = Date.now()
  private readonly links: LinkTable<Link>
  private readonly dialing = new Set<string>()
  private readonly hosts = new Map<string, HostEntry>()
  private readonly bans: BanList
  private readonly queries: QueryFlood
  private readonly relayClient: RelayClient
  private readonly bootstrap: BootstrapDialer
  private role: RoleName
  private roleSince = performance.now()
  private leaflessSince?: number = performance.now()
  private bandwidth?: number
  private probing = false
  private probedAt = -Infinity
  /** the next probe is due this long after the last (doubling from 2 s up to probeIntervalMs) */
  private probeEveryMs = 2_000
  private lastElection = ''
  private timer?: NodeJS.Timeout
  private started = false

  constructor (components: SupernodeComponents, init: SupernodeInit) {
    this.components = components
    this.config = init.config
    this.stats = init.stats
    this.log = init.logger.child({ component: 'supernode' })
    this.store = init.store
    this.cache = init.cache
    this.roleMode = init.role
    this.role = init.role === 'super' ? 'super' : 'leaf'
    this.interests = [...new Set(init.interests)].slice(0, MAX_INTERESTS)
    this.uploadRate = init.uploadRate
    if (init.uploadRate > 0) this.limiter = new RateLimiter(init.uploadRate)
    this.self = components.peerId.toString()
    this.ctx = { self: this.self, name: 'supernode', stats: init.stats, log: this.log, messageName: type => MESSAGE_NAMES[type] }
    this.links = new LinkTable(this.self, link => link.neighbour)
    this.bans = new BanList(init.config)
    this.queries = new QueryFlood({ ctx: this.ctx, config: init.config, bans: this.bans, neighbour: peer => this.links.get(peer)?.neighbour })
    this.relayClient = new RelayClient({ ttl: init.config.maxTtl, timeoutMs: init.config.relayTimeoutMs })
    // asked again whenever we have no link and know no better supernode (a refusal still lists supernodes)
    this.bootstrap = new BootstrapDialer({
      addrs: init.bootstrap,
      connect: async target => await this.connect(target, this.role === 'super' ? Want.PEER : Want.LEAF),
      log: this.log,
      afterLink: 'fallback'
    })
    this.relay = new PathRelay({
      self: this.self,
      config: init.config,
      stats: init.stats,
      logger: this.log,
      store: init.store,
      cache: init.cache,
      faultCorrupt: init.faultCorrupt,
      role: () => this.role,
      request: async (target, cid, index, offset, length, signal) => await this.upstream(target, cid, index, offset, length, signal),
      nextHop: (target) => this.queries.toward.get(target)
    })
  }

  readonly [Symbol.toStringTag] = '@sedai/supernode'

  /** The query router (seen cache, TTL rules, reverse paths). */
  get router (): QueryFlood['router'] {
    return this.queries.router
  }

  async start (): Promise<void> {
    if (this.started) return
    await this.components.handle(this.protocol, (stream, connection) => { this.accept(stream, connection) }, {
      maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
      maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
    })
    await this.components.handle(PROBE_PROTOCOL, (stream) => {
      serveProbe(stream).catch(err => { this.log.debug({ err: err.message }, 'probe stream failed') })
    }, { maxInboundStreams: 2, maxOutboundStreams: 2 })
    this.started = true
    this.log.info({ role: this.role, mode: this.roleMode }, 'supernode service started')
    this.timer = setInterval(() => { this.tick() }, Math.min(this.config.maintainIntervalMs, this.config.electionIntervalMs))
    this.timer.unref()
    this.tick()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    await this.components.unhandle(this.protocol)
    await this.components.unhandle(PROBE_PROTOCOL)
    await this.links.closeAll('supernode service stopped')
  }

  private inc (key: string, n = 1): void {
    count(this.ctx, key, n)
  }

  // ---- capacity and role -------------------------------------------------------

  /** The capacity score now; undefined until the bandwidth probe has run. */
  score (): number | undefined {
    if (this.bandwidth === undefined) return undefined
    const up = this.uploadRate > 0 ? Math.min(this.bandwidth, this.uploadRate) : this.bandwidth
    return capacityScore({ uploadBytesPerSec: up, ...localCapacity(this.startedAt), dialable: this.components.getMultiaddrs().length > 0 }, this.config)
  }

  get currentRole (): RoleName {
    return this.role
  }

  private maxLeaves (): number {
    return this.role === 'super' ? leafCapacity(this.score() ?? this.config.superThreshold, this.config.maxLeaves) : 0
  }

  private linksOf (kind: LinkKind): Link[] {
    return this.links.filter(l => l.kind === kind)
  }

  /** Measures upload bandwidth against a connected peer (any: the daemon dials its bootstrap peers). */
  private probe (): void {
    if (this.probing || performance.now() - this.probedAt < this.probeEveryMs) return
    const peers = this.components.getPeers()
    if (peers.length === 0) return
    const peer = peers[Math.floor(Math.random() * peers.length)]
    this.probing = true
    this.probedAt = performance.now()
    measureUpload(this.components, peer, this.limiter).then(bps => {
      this.bandwidth = Math.max(bps, this.bandwidth ?? 0)
      // soon again, then less and less often: a probe taken while the host was busy starting must not stick
      this.probeEveryMs = Math.min(this.probeEveryMs * 2, this.config.probeIntervalMs)
      this.inc('probes')
      this.log.info({ peer: peer.toString(), bytesPerSec: Math.round(bps), score: this.score() }, 'capacity measured')
    }, err => {
      this.log.debug({ peer: peer.toString(), err: err.message }, 'bandwidth probe failed')
    }).finally(() => { this.probing = false })
  }

  private freshSupers (): HostEntry[] {
    const now = performance.now()
    return [...this.hosts.values()].filter(h => now - h.seenAt < this.config.hostFreshMs && h.entry.peerId !== this.self)
  }

  private electRole (): void {
    if (this.roleMode !== 'auto') return
    const now = performance.now()
    const leaves = this.linksOf('leaf').length
    if (leaves > 0) this.leaflessSince = undefined
    else this.leaflessSince ??= now
    const result = elect({
      role: this.role,
      since: this.roleSince,
      now,
      score: this.score(),
      supers: this.freshSupers(),
      leaves,
      leaflessSince: this.leaflessSince
    }, this.config)
    if (result.role !== this.role) {
      this.setRole(result.role, result.reason)
    } else if (result.reason !== this.lastElection) {
      this.lastElection = result.reason
      this.log.debug({ role: this.role, reason: result.reason }, 'role kept')
    }
  }

  /** Changes role: every link is dropped and rebuilt for the new role (leaves of a former supernode re-home). */
  private setRole (role: RoleName, reason: string): void {
    const from = this.role
    this.role = role
    this.roleSince = performance.now()
    this.leaflessSince = performance.now()
    this.inc('roleChanges')
    this.log.info({ from, to: role, reason, score: this.score() }, 'role changed')
    for (const l of [...this.links.values()]) l.neighbour.close(ByeCode.SHUTDOWN, `role changed to ${role}`, true)
  }

  // ---- status and host cache ----------------------------------------------------

  private ownEntry (): PeerEntry {
    return ownEntry(this.self, this.components.getMultiaddrs())
  }

  /** Our interests, and a supernode's leaves' (the clustering signal). */
  private interestSet (): string[] {
    const out = new Set(this.interests)
    if (this.role === 'super') {
      for (const l of this.linksOf('leaf')) for (const i of l.status?.interests ?? []) { if (out.size < MAX_INTERESTS) out.add(i) }
    }
    return [...out]
  }

  private status (): Status {
    const supers: SuperEntry[] = this.freshSupers()
      .sort((a, b) => (b.maxLeaves - b.leaves) - (a.maxLeaves - a.leaves))
      .slice(0, MAX_STATUS_SUPERS)
      .map(h => ({ entry: h.entry, score: h.score, leaves: h.leaves, maxLeaves: h.maxLeaves, interests: h.interests }))
    return {
      role: this.role === 'super' ? Role.SUPER : Role.LEAF,
      score: this.score() ?? 0,
      leaves: Math.min(0xffff, this.linksOf('leaf').length),
      maxLeaves: Math.min(0xffff, this.maxLeaves()),
      entry: this.ownEntry(),
      interests: this.interestSet(),
      supers
    }
  }

  /** What a status tells us: the sender (if a supernode) and the supernodes it lists. */
  private learn (s: Status, firstHand: boolean): void {
    const now = performance.now()
    const put = (e: SuperEntry, direct: boolean): void => {
      if (e.entry.peerId === this.self) return
      const old = this.hosts.get(e.entry.peerId)
      // second-hand news never overrides what the supernode itself told us recently
      if (!direct && old?.direct === true && old.seenAt > now - 3 * this.config.keepaliveMs) return
      setBounded(this.hosts, e.entry.peerId, { ...e, seenAt: now, direct, failedAt: old?.failedAt }, this.config.hostCacheSize)
    }
    if (s.role === Role.SUPER) put({ entry: s.entry, score: s.score, leaves: s.leaves, maxLeaves: s.maxLeaves, interests: s.interests }, firstHand)
    else if (firstHand) this.hosts.delete(s.entry.peerId)
    for (const e of s.supers) put(e, false)
  }

  // ---- links ---------------------------------------------------------------------

  private openNeighbour (peer: string, stream: Stream, outbound: boolean): Neighbour {
    return openNeighbour(this.ctx, this.config, peer, stream, outbound, (neighbour, msg) => { this.queries.countSent(neighbour, msg) })
  }

  /**
   * Dials `target` and asks for a link (`want`: attach as its leaf, or link
   * two supernodes). Resolves with the remote's peer id once WELCOME OK
   * arrives; rejects with LinkRefusedError on a refusal (whose status still
   * taught us other supernodes).
   */
  async connect (target: Multiaddr | Multiaddr[], want: Want): Promise<string> {
    if (!this.started) throw new NotStartedError('supernode service not started')
    const deadline = AbortSignal.timeout(this.config.connectTimeoutMs)
    const conn = await this.components.dial(target, { signal: deadline })
    const peer = conn.remotePeer.toString()
    if (peer === this.self) throw new InvalidOptionError('that is this node')
    if (this.links.has(peer)) return peer
    if (this.bans.isBanned(peer)) throw new InvalidOptionError(`peer ${peer} is banned for flooding`)
    const stream = await conn.newStream(this.protocol, { signal: deadline })
    const neighbour = this.openNeighbour(peer, stream, true)
    const link: Link = { neighbour, kind: 'pending', want, relaying: 0 }
    if (!this.attach(peer, link)) throw new LinkRefusedError(`already linked to ${peer}`)
    neighbour.send({ type: SuperType.HELLO, bytes: encodeHello(want, this.status()) })
    try {
      await untilLinkUp(neighbour, deadline, `${peer} did not answer HELLO`)
    } catch (err: any) {
      if (!neighbour.isClosing) neighbour.abort(err)
      throw link.refused !== undefined ? new LinkRefusedError(`${peer} refused: ${link.refused}`) : err
    }
    return peer
  }

  /** Registers a link (the link table's tie-break settles a duplicate) and starts reading it; false when it lost. */
  private attach (peer: string, link: Link): boolean {
    if (!this.links.attach(peer, link)) return false
    link.neighbour.run().catch(err => { this.log.debug({ peer, err: err.message }, 'link writer ended') })
    void readLink({
      ctx: this.ctx,
      neighbour: link.neighbour,
      readTurnMs: this.config.readTurnMs,
      decode: decodeMessage,
      handle: (msg: Message, bytes) => this.onMessage(link, msg, bytes)
    }).then(why => { this.unlink(link, why) })
    return true
  }

  private accept (stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (!this.started) { stream.abort(new NotStartedError('not started')); return }
    if (this.bans.isBanned(peer)) { this.refuseBanned(peer, stream); return }
    this.attach(peer, { neighbour: this.openNeighbour(peer, stream, false), kind: 'pending', relaying: 0 })
  }

  /** A peer banned for flooding queries gets BYE BANNED before any handshake (as a flooding peer's). */
  private refuseBanned (peer: string, stream: Stream): void {
    const neighbour = this.openNeighbour(peer, stream, false)
    neighbour.close(ByeCode.BANNED, 'banned for flooding')
    this.inc(`refused.${BYE_NAMES[ByeCode.BANNED]}`)
    setTimeout(() => { neighbour.abort(new TimeoutError('refused link')) }, CLOSE_GRACE_MS).unref()
  }

  /** Answers a HELLO: the link becomes a leaf link or a supernode peer link, or is refused with other supernodes to try. */
  private onHello (link: Link, want: Want, s: Status): void {
    this.learn(s, true)
    link.status = s
    let result: Welcome = Welcome.OK
    if (this.role !== 'super') result = Welcome.NOT_SUPER
    else if (want === Want.PEER && s.role !== Role.SUPER) result = Welcome.WRONG_ROLE
    else if (want === Want.LEAF && this.linksOf('leaf').length >= this.maxLeaves()) result = Welcome.FULL
    else if (want === Want.PEER && this.linksOf('peer').length >= this.config.maxPeers) result = Welcome.FULL
    if (result !== Welcome.OK) {
      this.inc(`refused.${WELCOME_NAMES[result]}`)
      link.neighbour.send({ type: SuperType.WELCOME, bytes: encodeWelcome(result, this.status()) })
      link.neighbour.close(ByeCode.FULL, WELCOME_NAMES[result])
      setTimeout(() => { link.neighbour.abort(new TimeoutError('refused link')) }, CLOSE_GRACE_MS).unref()
      return
    }
    link.kind = want === Want.LEAF ? 'leaf' : 'peer'
    if (link.kind === 'leaf') link.index = new Map()
    link.neighbour.confirm()
    link.neighbour.send({ type: SuperType.WELCOME, bytes: encodeWelcome(Welcome.OK, this.status()) })
    this.inc(link.kind === 'leaf' ? 'leavesAdded' : 'peersAdded')
    this.log.info({ peer: link.neighbour.peerId, kind: link.kind, leaves: this.linksOf('leaf').length, peers: this.linksOf('peer').length }, 'link accepted')
  }

  private onWelcome (link: Link, result: Welcome, s: Status): void {
    this.learn(s, true)
    link.status = s
    if (result !== Welcome.OK) {
      link.refused = WELCOME_NAMES[result]
      if (s.role !== Role.SUPER) this.hosts.delete(link.neighbour.peerId)
      else { const h = this.hosts.get(link.neighbour.peerId); if (h !== undefined) h.failedAt = performance.now() }
      link.neighbour.fail(new LinkRefusedError(link.refused))
      return
    }
    link.kind = link.want === Want.LEAF ? 'super' : 'peer'
    link.neighbour.confirm()
    this.inc(link.kind === 'super' ? 'supernodesJoined' : 'peersAdded')
    this.log.info({ peer: link.neighbour.peerId, kind: link.kind }, 'link up')
    if (link.kind === 'super') this.sendIndex(link)
  }

  /** Our shares to one supernode: the whole list, in messages of at most MAX_INDEX_FILES_PER_MESSAGE. */
  private sendIndex (link: Link): void {
    const files = this.store.list().map(f => ({ cid: f.cid, name: f.name, size: f.size })).slice(0, this.config.maxFilesPerLeaf)
    for (let i = 0; i === 0 || i < files.length; i += MAX_INDEX_FILES_PER_MESSAGE) {
      link.neighbour.send({ type: SuperType.INDEX, bytes: encodeIndex(i === 0, files.slice(i, i + MAX_INDEX_FILES_PER_MESSAGE)) })
    }
    this.inc('indexesSent')
  }

  /** The shares changed: every supernode we are attached to gets the new list. */
  sharesChanged (): void {
    for (const l of this.linksOf('super')) this.sendIndex(l)
  }

  private onIndex (link: Link, reset: boolean, files: HitFile[]): void {
    if (link.kind !== 'leaf' || link.index === undefined) {
      this.inc('droppedIndexNotLeaf')
      return
    }
    if (reset) link.index.clear()
    let ignored = 0
    for (const f of files) {
      if (link.index.size >= this.config.maxFilesPerLeaf && !link.index.has(f.cid)) { ignored++; continue }
      try { parseCid(f.cid) } catch { ignored++; continue }
      link.index.set(f.cid, f)
    }
    if (ignored > 0) {
      this.inc('indexFilesIgnored', ignored)
      this.log.warn({ peer: link.neighbour.peerId, ignored, max: this.config.maxFilesPerLeaf }, 'leaf index entries ignored')
    }
  }

  /**
   * One message on a link; returns why the link ends (a BYE, a protocol
   * error), else undefined. Until HELLO/WELCOME only the handshake (or BYE)
   * may come.
   */
  private onMessage (link: Link, msg: Message, bytes: Uint8Array): string | undefined {
    const neighbour = link.neighbour
    if (link.kind === 'pending' && msg.type !== SuperType.HELLO && msg.type !== SuperType.WELCOME && msg.type !== MessageType.BYE) {
      const why = `${MESSAGE_NAMES[msg.type]} before the handshake`
      neighbour.close(ByeCode.PROTOCOL_ERROR, why, true)
      return why
    }
    switch (msg.type) {
      case SuperType.HELLO:
        if (neighbour.outbound || link.kind !== 'pending') throw new InvalidMessageError('unexpected HELLO')
        this.onHello(link, msg.want, msg.status)
        break
      case SuperType.WELCOME:
        if (!neighbour.outbound || link.kind !== 'pending') throw new InvalidMessageError('unexpected WELCOME')
        this.onWelcome(link, msg.result, msg.status)
        break
      case SuperType.STATUS:
        link.status = msg.status
        this.learn(msg.status, true)
        // our supernode stepped down (or our peer did): drop the link, the maintenance loop re-homes
        if ((link.kind === 'super' || link.kind === 'peer') && msg.status.role !== Role.SUPER) neighbour.close(ByeCode.SHUTDOWN, 'no longer a supernode', true)
        break
      case SuperType.INDEX:
        this.onIndex(link, msg.reset, msg.files)
        break
      case MessageType.QUERY:
        this.onQuery(link, msg)
        break
      case MessageType.QUERY_HIT:
        this.queries.onHit(neighbour, msg, bytes)
        break
      case MessageType.RELAY_REQUEST:
        this.onRelayRequest(link, msg)
        break
      case MessageType.RELAY_REPLY:
        if (!this.relayClient.onReply(msg)) this.inc('droppedUnknownRelay')
        break
      case MessageType.BYE:
        neighbour.end()
        return `BYE: ${msg.reason}`
      default:
        this.inc('droppedUnexpected')
    }
    return undefined
  }

  private unlink (link: Link, why: string): void {
    const neighbour = link.neighbour
    neighbour.fail(new LinkRefusedError(link.refused ?? `link to ${neighbour.peerId} ended: ${why}`))
    if (!this.links.remove(neighbour.peerId, link)) return
    if (!neighbour.isClosing) neighbour.abort(new TimeoutError(why))
    if (link.kind === 'pending') return
    this.inc(`lost.${link.kind}`)
    if (link.kind === 'super' || link.kind === 'peer') {
      const h = this.hosts.get(neighbour.peerId)
      if (h !== undefined) h.failedAt = performance.now()
    }
    this.log.info({ peer: neighbour.peerId, kind: link.kind, why }, 'link lost')
  }

  // ---- queries ---------------------------------------------------------------------

  /** Files this node answers for: its own and its cache's (responder = us), its leaves' (responder = the leaf). */
  private answer (from: Link | undefined, q: { id: Uint8Array, text: string }): void {
    const send = (responder: PeerEntry, files: HitFile[]): void => {
      for (let i = 0; i < files.length; i += MAX_HIT_FILES) {
        const bytes = encodeQueryHit({ id: q.id, responder, files: files.slice(i, i + MAX_HIT_FILES) })
        if (from === undefined) {
          this.queries.onHit(undefined, { type: MessageType.QUERY_HIT, id: q.id, responder, files: files.slice(i, i + MAX_HIT_FILES) }, bytes)
        } else if (from.neighbour.send({ type: MessageType.QUERY_HIT, bytes })) this.inc('hitsSent')
      }
    }
    const own = new Map<string, HitFile>()
    for (const f of this.store.list()) if (matches(f, q.text)) own.set(f.cid, { cid: f.cid, name: f.name, size: f.size })
    if (this.role === 'super') for (const f of this.cache.files()) if (!own.has(f.cid) && matches(f, q.text)) own.set(f.cid, f)
    if (own.size > 0) send(this.ownEntry(), [...own.values()])
    if (this.role !== 'super') return
    for (const leaf of this.linksOf('leaf')) {
      if (leaf === from || leaf.status === undefined || leaf.index === undefined) continue
      const found: HitFile[] = []
      for (const f of leaf.index.values()) if (matches(f, q.text)) found.push(f)
      if (found.length === 0) continue
      setBounded(this.queries.toward, leaf.neighbour.peerId, leaf.neighbour.peerId, this.config.providerCacheSize)
      send({ peerId: leaf.neighbour.peerId, addrs: leaf.status.entry.addrs }, found)
    }
  }

  private onQuery (link: Link, q: Query): void {
    if (this.role !== 'super' || link.kind === 'super') {
      this.inc('droppedQueryNotSuper') // leaves are never asked: their supernode answers for them
      return
    }
    // queries travel among supernodes only; a flooding leaf or peer is banned as a flooding neighbour is
    this.queries.onQuery(link.neighbour, q, {
      forwardTo: () => this.linksOf('peer').map(l => l.neighbour.peerId),
      answer: () => { this.answer(link, q) }
    })
  }

  /**
   * A search: a leaf asks its supernodes; a supernode answers from its own
   * index and floods the query to its supernode peers. Hits stream to
   * `onHit` until the timeout.
   */
  async search (text: string, opts: SupernodeSearchOptions): Promise<SearchHit[]> {
    if (!this.started) throw new NotStartedError('supernode service not started')
    queryText(text)
    const targets = this.role === 'super' ? this.linksOf('peer') : this.linksOf('super')
    if (this.role === 'leaf' && targets.length === 0) throw new NoSupernodeError('not attached to any supernode yet (give --bootstrap, or wait for the election)')
    const answerLocally = this.role === 'super' ? (id: Uint8Array, q: string) => { this.answer(undefined, { id, text: q }) } : undefined
    return await this.queries.search(text, opts, targets.map(l => l.neighbour.peerId), answerLocally)
  }

  // ---- in-band transfer with path caching ---------------------------------------------

  /** Whether a path toward `peer` is known (a hit from it came through a link still up), or it is us. */
  hasPathTo (peer: string): boolean {
    if (peer === this.self) return true
    return this.queries.pathTo(peer) !== undefined
  }

  /** One range asked of the next hop toward `target`. */
  private async upstream (target: string, cid: string, index: number, offset: number, length: number, signal?: AbortSignal): Promise<{ total: number, data: Uint8Array }> {
    const via = this.queries.pathTo(target)
    if (via === undefined) throw new NotFoundError(`no path toward ${target} (search first)`)
    return await this.relayClient.request(via, { target, cid, index, offset, length }, signal)
  }

  /** One range of an in-band request (ours: requester undefined), through the path relay. */
  async fetchRange (r: { target: string, cid: string, index: number, offset: number, length: number }, requester: string | undefined, signal?: AbortSignal): Promise<{ total: number, data: Uint8Array }> {
    return await this.relay.fetchRange(r, requester, signal)
  }

  private onRelayRequest (link: Link, r: RelayRequest): void {
    const reply = (status: RelayStatus, total: number, data?: Uint8Array, error?: string): void => {
      const send = (): void => { link.neighbour.send({ type: MessageType.RELAY_REPLY, bytes: encodeRelayReply({ id: r.id, status, total, data, error }) }) }
      if (this.limiter !== undefined && data !== undefined) this.limiter.take(data.byteLength).then(send, () => {})
      else send()
    }
    if (link.kind === 'pending') return
    if (r.ttl <= 1 && r.target !== this.self) { reply(RelayStatus.NOT_FOUND, 0, undefined, 'relay TTL exhausted'); return }
    // each request may make us fetch a whole chunk upstream: a neighbour gets a bounded number at once
    if (link.relaying >= this.config.maxRelayPerLink) {
      this.inc('relayRefusedBusy')
      reply(RelayStatus.ERROR, 0, undefined, `busy: ${link.relaying} requests of yours in progress`)
      return
    }
    link.relaying++
    this.inc('relayRequests')
    this.fetchRange(r, link.neighbour.peerId).then(({ total, data }) => {
      reply(RelayStatus.OK, total, data)
    }, (err: any) => {
      this.inc('relayFailed')
      reply(err instanceof NotFoundError ? RelayStatus.NOT_FOUND : RelayStatus.ERROR, 0, undefined, String(err.message).slice(0, 200))
    }).finally(() => { link.relaying-- })
  }

  // ---- maintenance ---------------------------------------------------------------------

  private tick (): void {
    if (!this.started) return
    this.probe()
    this.electRole()
    this.maintain()
  }

  /** Keepalive and dead links; a leaf keeps `leafSupernodes` supernodes, a supernode `minPeers` peers. */
  private maintain (): void {
    const now = performance.now()
    this.links.sweep(this.config, link => {
      if (link.kind !== 'pending') link.neighbour.send({ type: SuperType.STATUS, bytes: encodeStatus(this.status()) })
    }, now)
    const want = this.role === 'super' ? Want.PEER : Want.LEAF
    const have = this.role === 'super' ? this.linksOf('peer').length : this.linksOf('super').length
    const target = this.role === 'super' ? this.config.minPeers : this.config.leafSupernodes
    const mine = new Set(this.interestSet())
    const overlap = (h: HostEntry): number => h.interests.filter(i => mine.has(i)).length
    let deficit = target - have - this.dialing.size
    // Winny's clustering: beyond its minimum, a supernode adds links (up to maxPeers) to supernodes whose interests overlap its own
    const clustering = deficit <= 0 && want === Want.PEER && mine.size > 0 && have + this.dialing.size < this.config.maxPeers
    if (clustering) deficit = 1
    if (deficit <= 0) return
    const candidates = this.freshSupers()
      .filter(h => !this.links.has(h.entry.peerId) && !this.dialing.has(h.entry.peerId) && !this.bans.isBanned(h.entry.peerId))
      .filter(h => h.failedAt === undefined || now - h.failedAt > this.config.retryMs)
      .filter(h => want === Want.PEER || h.leaves < h.maxLeaves)
      .filter(h => !clustering || overlap(h) > 0)
      // a leaf goes where there is most room; a supernode prefers peers whose leaves share its interests (Winny's clustering)
      .sort((a, b) => want === Want.LEAF
        ? ((b.maxLeaves - b.leaves) - (a.maxLeaves - a.leaves)) || (b.score - a.score)
        : (overlap(b) - overlap(a)) || (b.score - a.score))
      .slice(0, deficit)
    for (const c of candidates) {
      let addrs: Multiaddr[]
      try {
        addrs = c.entry.addrs.map(a => multiaddr(`${a}/p2p/${c.entry.peerId}`))
      } catch {
        this.hosts.delete(c.entry.peerId)
        continue
      }
      this.dialing.add(c.entry.peerId)
      this.connect(addrs, want).catch(err => {
        const h = this.hosts.get(c.entry.peerId)
        if (h !== undefined) h.failedAt = performance.now()
        this.log.debug({ peer: c.entry.peerId, err: err.message }, 'supernode candidate failed')
      }).finally(() => { this.dialing.delete(c.entry.peerId) })
    }
    // nothing better known: ask the bootstrap peers (a refusal still lists supernodes)
    if (candidates.length === 0 && have === 0 && !clustering) this.bootstrap.dialDue(now)
  }

  /** What `sedai id` shows: role, score and the measured bandwidth. */
  info (): Record<string, unknown> {
    return {
      role: this.role,
      roleMode: this.roleMode,
      score: this.score(),
      bandwidth: this.bandwidth === undefined ? undefined : Math.round(this.bandwidth),
      uploadRate: this.uploadRate > 0 ? this.uploadRate : undefined,
      interests: this.interests,
      supernodes: this.linksOf('super').map(l => l.neighbour.peerId),
      leaves: this.linksOf('leaf').length,
      maxLeaves: this.maxLeaves(),
      peers: this.linksOf('peer').map(l => l.neighbour.peerId)
    }
  }

  /** What we know of a connected peer: its role and score as its last status said. */
  peerInfo (peer: string): Record<string, unknown> | undefined {
    const l = this.links.get(peer)
    const s = l?.status
    const h = this.hosts.get(peer)
    if (s === undefined && h === undefined) return undefined
    return {
      role: s !== undefined ? ROLE_NAMES[s.role] : 'super',
      score: s?.score ?? h?.score,
      link: l?.kind,
      leaves: s?.leaves ?? h?.leaves
    }
  }

  /** State for `sedai stats`: role, links, cache and the counters' ratios. */
  snapshot (): Record<string, unknown> {
    const cache = this.cache.stats()
    const c = this.stats.toJSON() as Record<string, any>
    const counter = (k: string): number => Number(c.supernode?.[k] ?? 0)
    const hits = counter('cacheHits')
    const misses = counter('cacheMisses')
    const fromCache = counter('bytesServedCache')
    const origin = counter('bytesServedOrigin')
    return {
      ...this.info(),
      leafFiles: this.linksOf('leaf').reduce((a, l) => a + (l.index?.size ?? 0), 0),
      knownSupernodes: this.freshSupers().length,
      cache: { ...cache, hitRatio: hits + misses === 0 ? 0 : Math.round(hits / (hits + misses) * 1000) / 1000 },
      bytesServed: { origin, cache: fromCache, relayed: counter('bytesRelayed') },
      seenCache: this.router.seen.size,
      banned: this.bans.list()
    }
  }
}
