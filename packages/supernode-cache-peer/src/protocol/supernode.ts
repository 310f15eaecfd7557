import { multiaddr } from '@multiformats/multiaddr'
import { InvalidMessageError, InvalidOptionError, NotFoundError, RateLimiter, TimeoutError, parseCid, setBounded } from '@sedai/core'
import {
  BYE_NAMES, BanList, BootstrapDialer, ByeCode, CLOSE_GRACE_MS, LinkTable, MAX_HIT_FILES, MessageType, QueryFlood, RelayClient, RelayStatus,
  count, encodeQueryHit, encodeRelayReply, matches, openNeighbour, ownEntry, queryText, readLink, untilLinkUp
} from '@sedai/flooding-peer'
import { LinkRefusedError, NoSupernodeError, NotStartedError } from '../errors.ts'
import { SupernodeHosts } from '../hosts.ts'
import { RoleElection } from '../role.ts'
import { serveProbe } from './probe.ts'
import { PathRelay } from './relay.ts'
import { MAX_INDEX_FILES_PER_MESSAGE, MAX_INTERESTS, MAX_STREAMS_PER_CONNECTION, PROBE_PROTOCOL, SUPERNODE_PROTOCOL } from './constants.ts'
import { MESSAGE_NAMES, ROLE_NAMES, Role, SuperType, WELCOME_NAMES, Want, Welcome, decodeMessage, encodeHello, encodeIndex, encodeStatus, encodeWelcome } from './messages.ts'
import type { ChunkCache } from '../cache/cache.ts'
import type { SupernodeConfig } from '../config.ts'
import type { RoleName } from '../election.ts'
import type { RoleComponents } from '../role.ts'
import type { Message, Status } from './messages.ts'
import type { ContentStore, Logger, SearchHit, Stats } from '@sedai/core'
import type { HitFile, Neighbour, OverlayComponents, OverlayContext, PeerEntry, Query, RelayRequest, SearchOptions } from '@sedai/flooding-peer'
import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** What the service needs of a libp2p node (a Libp2p satisfies it). */
export interface SupernodeComponents extends OverlayComponents, RoleComponents {}

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

/**
 * What a link is to us: 'pending' until HELLO/WELCOME; then 'supernode' = our
 * supernode (we are its leaf), 'leaf' = our leaf, 'peer' = supernode to
 * supernode. (Not to be mixed up with our role, RoleName 'super' | 'leaf'.)
 */
type LinkKind = 'pending' | 'supernode' | 'leaf' | 'peer'

/** The names `peerInfo().link` and the `lost.*` counters have always used for a link's kind. */
const LINK_NAMES: Record<LinkKind, string> = { pending: 'pending', supernode: 'super', leaf: 'leaf', peer: 'peer' }

/** A link and what we know over it. */
interface Link {
  neighbour: Neighbour
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
  private readonly interests: string[]
  private readonly self: string
  private readonly limiter?: RateLimiter
  private readonly relay: PathRelay
  private readonly election: RoleElection
  private readonly links: LinkTable<Link>
  private readonly dialing = new Set<string>()
  private readonly hosts: SupernodeHosts
  private readonly bans: BanList
  private readonly queries: QueryFlood
  private readonly relayClient: RelayClient
  private readonly bootstrap: BootstrapDialer
  private timer?: NodeJS.Timeout
  private started = false

  constructor (components: SupernodeComponents, init: SupernodeInit) {
    this.components = components
    this.config = init.config
    this.stats = init.stats
    this.log = init.logger.child({ component: 'supernode' })
    this.store = init.store
    this.cache = init.cache
    this.interests = [...new Set(init.interests)].slice(0, MAX_INTERESTS)
    if (init.uploadRate > 0) this.limiter = new RateLimiter(init.uploadRate)
    this.self = components.peerId.toString()
    this.ctx = { self: this.self, name: 'supernode', stats: init.stats, log: this.log, messageName: type => MESSAGE_NAMES[type] }
    this.hosts = new SupernodeHosts(this.self, init.config)
    this.election = new RoleElection({
      components,
      config: init.config,
      ctx: this.ctx,
      mode: init.role,
      uploadRate: init.uploadRate,
      limiter: this.limiter,
      view: () => ({ supers: this.hosts.fresh(), leaves: this.linksOf('leaf').length }),
      // every link is dropped and rebuilt for the new role (leaves of a former supernode re-home)
      onChange: role => { for (const link of [...this.links.values()]) link.neighbour.close(ByeCode.SHUTDOWN, `role changed to ${role}`, true) }
    })
    this.links = new LinkTable(this.self, link => link.neighbour)
    this.bans = new BanList(init.config)
    this.queries = new QueryFlood({ ctx: this.ctx, config: init.config, bans: this.bans, neighbour: peer => this.links.get(peer)?.neighbour })
    this.relayClient = new RelayClient({ ttl: init.config.maxTtl, timeoutMs: init.config.relayTimeoutMs })
    // asked again whenever we have no link and know no better supernode (a refusal still lists supernodes)
    this.bootstrap = new BootstrapDialer({
      addrs: init.bootstrap,
      connect: async target => await this.connect(target, this.isSupernode ? Want.PEER : Want.LEAF),
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
      role: () => this.election.role,
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
    this.log.info({ role: this.election.role, mode: this.election.mode }, 'supernode service started')
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

  // ---- role ------------------------------------------------------------------------

  /** The capacity score now; undefined until the bandwidth probe has run. */
  score (): number | undefined {
    return this.election.score()
  }

  get currentRole (): RoleName {
    return this.election.role
  }

  private get isSupernode (): boolean {
    return this.election.isSupernode
  }

  private linksOf (kind: LinkKind): Link[] {
    return this.links.filter(l => l.kind === kind)
  }

  // ---- status and host cache ----------------------------------------------------

  private ownEntry (): PeerEntry {
    return ownEntry(this.self, this.components.getMultiaddrs())
  }

  /** Our interests, and a supernode's leaves' (the clustering signal). */
  private interestSet (): string[] {
    const out = new Set(this.interests)
    if (this.isSupernode) {
      for (const l of this.linksOf('leaf')) for (const i of l.status?.interests ?? []) { if (out.size < MAX_INTERESTS) out.add(i) }
    }
    return [...out]
  }

  private status (): Status {
    return {
      role: this.isSupernode ? Role.SUPER : Role.LEAF,
      score: this.score() ?? 0,
      leaves: Math.min(0xffff, this.linksOf('leaf').length),
      maxLeaves: Math.min(0xffff, this.election.maxLeaves()),
      entry: this.ownEntry(),
      interests: this.interestSet(),
      supers: this.hosts.listed()
    }
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
    this.hosts.learn(s, true)
    link.status = s
    let result: Welcome = Welcome.OK
    if (!this.isSupernode) result = Welcome.NOT_SUPER
    else if (want === Want.PEER && s.role !== Role.SUPER) result = Welcome.WRONG_ROLE
    else if (want === Want.LEAF && this.linksOf('leaf').length >= this.election.maxLeaves()) result = Welcome.FULL
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
    this.hosts.learn(s, true)
    link.status = s
    if (result !== Welcome.OK) {
      link.refused = WELCOME_NAMES[result]
      if (s.role !== Role.SUPER) this.hosts.delete(link.neighbour.peerId)
      else this.hosts.failed(link.neighbour.peerId)
      link.neighbour.fail(new LinkRefusedError(link.refused))
      return
    }
    link.kind = link.want === Want.LEAF ? 'supernode' : 'peer'
    link.neighbour.confirm()
    this.inc(link.kind === 'supernode' ? 'supernodesJoined' : 'peersAdded')
    this.log.info({ peer: link.neighbour.peerId, kind: link.kind }, 'link up')
    if (link.kind === 'supernode') this.sendIndex(link)
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
    for (const l of this.linksOf('supernode')) this.sendIndex(l)
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
        this.hosts.learn(msg.status, true)
        // our supernode stepped down (or our peer did): drop the link, the maintenance loop re-homes
        if ((link.kind === 'supernode' || link.kind === 'peer') && msg.status.role !== Role.SUPER) neighbour.close(ByeCode.SHUTDOWN, 'no longer a supernode', true)
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
    this.inc(`lost.${LINK_NAMES[link.kind]}`)
    if (link.kind === 'supernode' || link.kind === 'peer') this.hosts.failed(neighbour.peerId)
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
    if (this.isSupernode) for (const f of this.cache.files()) if (!own.has(f.cid) && matches(f, q.text)) own.set(f.cid, f)
    if (own.size > 0) send(this.ownEntry(), [...own.values()])
    if (!this.isSupernode) return
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
    if (!this.isSupernode || link.kind === 'supernode') {
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
    const targets = this.isSupernode ? this.linksOf('peer') : this.linksOf('supernode')
    if (!this.isSupernode && targets.length === 0) throw new NoSupernodeError('not attached to any supernode yet (give --bootstrap, or wait for the election)')
    const answerLocally = this.isSupernode ? (id: Uint8Array, q: string) => { this.answer(undefined, { id, text: q }) } : undefined
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
    this.election.tick()
    this.maintain()
  }

  /** Keepalive and dead links; a leaf keeps `leafSupernodes` supernodes, a supernode `minPeers` peers. */
  private maintain (): void {
    const now = performance.now()
    this.links.sweep(this.config, link => {
      if (link.kind !== 'pending') link.neighbour.send({ type: SuperType.STATUS, bytes: encodeStatus(this.status()) })
    }, now)
    const want = this.isSupernode ? Want.PEER : Want.LEAF
    const have = this.isSupernode ? this.linksOf('peer').length : this.linksOf('supernode').length
    const target = this.isSupernode ? this.config.minPeers : this.config.leafSupernodes
    const mine = new Set(this.interestSet())
    let deficit = target - have - this.dialing.size
    // Winny's clustering: beyond its minimum, a supernode adds links (up to maxPeers) to supernodes whose interests overlap its own
    const clustering = deficit <= 0 && want === Want.PEER && mine.size > 0 && have + this.dialing.size < this.config.maxPeers
    if (clustering) deficit = 1
    if (deficit <= 0) return
    const candidates = this.hosts.candidates(deficit, want, mine, clustering,
      peer => this.links.has(peer) || this.dialing.has(peer) || this.bans.isBanned(peer))
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
        this.hosts.failed(c.entry.peerId)
        this.log.debug({ peer: c.entry.peerId, err: err.message }, 'supernode candidate failed')
      }).finally(() => { this.dialing.delete(c.entry.peerId) })
    }
    // nothing better known: ask the bootstrap peers (a refusal still lists supernodes)
    if (candidates.length === 0 && have === 0 && !clustering) this.bootstrap.dialDue(now)
  }

  /** What `sedai id` shows: role, score and the measured bandwidth. */
  info (): Record<string, unknown> {
    return {
      ...this.election.info(),
      interests: this.interests,
      supernodes: this.linksOf('supernode').map(l => l.neighbour.peerId),
      leaves: this.linksOf('leaf').length,
      maxLeaves: this.election.maxLeaves(),
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
      link: l === undefined ? undefined : LINK_NAMES[l.kind],
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
      knownSupernodes: this.hosts.fresh().length,
      cache: { ...cache, hitRatio: hits + misses === 0 ? 0 : Math.round(hits / (hits + misses) * 1000) / 1000 },
      bytesServed: { origin, cache: fromCache, relayed: counter('bytesRelayed') },
      seenCache: this.router.seen.size,
      banned: this.bans.list()
    }
  }
}
