import { multiaddr } from '@multiformats/multiaddr'
import { NotFoundError, RateLimiter, parseCid, setBounded } from '@sedai/core'
import {
  BanList, BootstrapDialer, ByeCode, MAX_HIT_FILES, MessageType, QueryFlood, RelayClient,
  count, encodeQueryHit, handleLinks, matches, ownEntry, queryText, tickEvery
} from '@sedai/flooding-peer'
import { NoSupernodeError, NotStartedError } from '../errors.ts'
import { SupernodeHosts } from '../hosts.ts'
import { RoleElection } from '../role.ts'
import { LINK_NAMES, SupernodeLinks } from './links.ts'
import { serveProbe } from './probe.ts'
import { PathRelay } from './relay.ts'
import { MAX_INDEX_FILES_PER_MESSAGE, MAX_INTERESTS, PROBE_PROTOCOL, SUPERNODE_PROTOCOL } from './constants.ts'
import { MESSAGE_NAMES, ROLE_NAMES, Role, SuperType, Want, encodeIndex, encodeStatus } from './messages.ts'
import type { ChunkCache } from '../cache/cache.ts'
import type { SupernodeConfig } from '../config.ts'
import type { RoleName } from '../election.ts'
import type { RoleComponents } from '../role.ts'
import type { Link, LinkKind } from './links.ts'
import type { Message, Status } from './messages.ts'
import type { ContentStore, Logger, SearchHit, Stats } from '@sedai/core'
import type { HitFile, LinkTable, OverlayComponents, OverlayContext, PeerEntry, Query, SearchOptions } from '@sedai/flooding-peer'
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
  private readonly linkSet: SupernodeLinks
  /** the link table (tests read it) */
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
    this.bans = new BanList(init.config)
    this.queries = new QueryFlood({ ctx: this.ctx, config: init.config, bans: this.bans, neighbour: peer => this.links.get(peer)?.neighbour })
    this.linkSet = new SupernodeLinks({
      components,
      config: init.config,
      ctx: this.ctx,
      hosts: this.hosts,
      bans: this.bans,
      election: this.election,
      isStarted: () => this.started,
      status: () => this.status(),
      onSent: (neighbour, msg) => { this.queries.countSent(neighbour, msg) },
      onMessage: (link, msg, bytes) => this.onMessage(link, msg, bytes),
      onSupernode: link => { this.sendIndex(link) }
    })
    this.links = this.linkSet.table
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
      nextHop: (target) => this.queries.toward.get(target),
      limiter: this.limiter
    })
  }

  readonly [Symbol.toStringTag] = '@sedai/supernode'

  /** The query router (seen cache, TTL rules, reverse paths). */
  get router (): QueryFlood['router'] {
    return this.queries.router
  }

  async start (): Promise<void> {
    if (this.started) return
    await handleLinks(this.components, this.protocol, (stream, connection) => { this.linkSet.accept(stream, connection) })
    await this.components.handle(PROBE_PROTOCOL, (stream) => {
      serveProbe(stream).catch(err => { this.log.debug({ err: err.message }, 'probe stream failed') })
    }, { maxInboundStreams: 2, maxOutboundStreams: 2 })
    this.started = true
    this.log.info({ role: this.election.role, mode: this.election.mode }, 'supernode service started')
    this.timer = tickEvery(Math.min(this.config.maintainIntervalMs, this.config.electionIntervalMs), () => { this.tick() })
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
    return this.linkSet.of(kind)
  }

  /** Dials `target` and asks for a link (`want`: as its leaf, or supernode to supernode); see SupernodeLinks.connect. */
  async connect (target: Multiaddr | Multiaddr[], want: Want): Promise<string> {
    return await this.linkSet.connect(target, want)
  }

  // ---- status and host cache ----------------------------------------------------

  private ownEntry (): PeerEntry {
    return ownEntry(this.self, this.components.getMultiaddrs())
  }

  /** Our interests, and a supernode's leaves' (the clustering signal). */
  private interestSet (): string[] {
    const out = new Set(this.interests)
    if (this.isSupernode) {
      for (const leaf of this.linksOf('leaf')) for (const interest of leaf.status?.interests ?? []) { if (out.size < MAX_INTERESTS) out.add(interest) }
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

  // ---- the leaves' index ---------------------------------------------------------

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
    for (const link of this.linksOf('supernode')) this.sendIndex(link)
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

  /** A message on a link past its handshake (SupernodeLinks handles HELLO, WELCOME, STATUS and BYE). */
  private onMessage (link: Link, msg: Message, bytes: Uint8Array): undefined {
    switch (msg.type) {
      case SuperType.INDEX:
        this.onIndex(link, msg.reset, msg.files)
        break
      case MessageType.QUERY:
        this.onQuery(link, msg)
        break
      case MessageType.QUERY_HIT:
        this.queries.onHit(link.neighbour, msg, bytes)
        break
      case MessageType.RELAY_REQUEST:
        this.relay.onRequest(link, msg)
        break
      case MessageType.RELAY_REPLY:
        if (!this.relayClient.onReply(msg)) this.inc('droppedUnknownRelay')
        break
      default:
        this.inc('droppedUnexpected')
    }
    return undefined
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
      forwardTo: () => this.linksOf('peer').map(link => link.neighbour.peerId),
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
    return await this.queries.search(text, opts, targets.map(link => link.neighbour.peerId), answerLocally)
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
    for (const candidate of candidates) {
      let addrs: Multiaddr[]
      try {
        addrs = candidate.entry.addrs.map(a => multiaddr(`${a}/p2p/${candidate.entry.peerId}`))
      } catch {
        this.hosts.delete(candidate.entry.peerId)
        continue
      }
      this.dialing.add(candidate.entry.peerId)
      this.connect(addrs, want).catch(err => {
        this.hosts.failed(candidate.entry.peerId)
        this.log.debug({ peer: candidate.entry.peerId, err: err.message }, 'supernode candidate failed')
      }).finally(() => { this.dialing.delete(candidate.entry.peerId) })
    }
    // nothing better known: ask the bootstrap peers (a refusal still lists supernodes)
    if (candidates.length === 0 && have === 0 && !clustering) this.bootstrap.dialDue(now)
  }

  /** What `sedai id` shows: role, score and the measured bandwidth. */
  info (): Record<string, unknown> {
    return {
      ...this.election.info(),
      interests: this.interests,
      supernodes: this.linksOf('supernode').map(link => link.neighbour.peerId),
      leaves: this.linksOf('leaf').length,
      maxLeaves: this.election.maxLeaves(),
      peers: this.linksOf('peer').map(link => link.neighbour.peerId)
    }
  }

  /** What we know of a connected peer: its role and score as its last status said. */
  peerInfo (peer: string): Record<string, unknown> | undefined {
    const link = this.links.get(peer)
    const status = link?.status
    const host = this.hosts.get(peer)
    if (status === undefined && host === undefined) return undefined
    return {
      role: status !== undefined ? ROLE_NAMES[status.role] : 'super',
      score: status?.score ?? host?.score,
      link: link === undefined ? undefined : LINK_NAMES[link.kind],
      leaves: status?.leaves ?? host?.leaves
    }
  }

  /** State for `sedai stats`: role, links, cache and the counters' ratios. */
  snapshot (): Record<string, unknown> {
    const cache = this.cache.stats()
    const counters = this.stats.toJSON() as Record<string, any>
    const counter = (key: string): number => Number(counters.supernode?.[key] ?? 0)
    const hits = counter('cacheHits')
    const misses = counter('cacheMisses')
    const fromCache = counter('bytesServedCache')
    const origin = counter('bytesServedOrigin')
    return {
      ...this.info(),
      leafFiles: this.linksOf('leaf').reduce((sum, leaf) => sum + (leaf.index?.size ?? 0), 0),
      knownSupernodes: this.hosts.fresh().length,
      cache: { ...cache, hitRatio: hits + misses === 0 ? 0 : Math.round(hits / (hits + misses) * 1000) / 1000 },
      bytesServed: { origin, cache: fromCache, relayed: counter('bytesRelayed') },
      seenCache: this.router.seen.size,
      banned: this.bans.list()
    }
  }
}
