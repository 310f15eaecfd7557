import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { parseCid } from '@sedai/core'
import { resolveConfig } from './config.ts'
import { DhtNotStartedError, NoKeywordsError } from './errors.ts'
import { keywordCid, keywords, matches } from './keywords.ts'
import { adaptiveSettle, findProvidersTracked, percentile } from './lookup.ts'
import { Join } from './join.ts'
import { Publisher } from './publisher.ts'
import { keywordSearch } from './search.ts'
import { KEYWORD_PROTOCOL, MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, MAX_QUERY_KEYWORDS } from './protocol/constants.ts'
import { askKeywords, serveKeywordQuery } from './protocol/keyword-protocol.ts'
import type { DhtConfig } from './config.ts'
import type { LookupInit, LookupResult } from './lookup.ts'
import type { ResultFile } from './protocol/messages.ts'
import type { KadDHT, KadDHTComponents, SingleKadDHT } from '@libp2p/kad-dht'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import type { Logger, Mode, ModeContext, ModeInit, OverlayLink, SearchHit, SearchOptions, SharedFile, Source } from '@sedai/core'

/**
 * The kad-dht service with sedai's settings: the private protocol id, server
 * mode (lab addresses are private, so kad-dht's automatic switch to server
 * mode would never fire) and every address kept (the default mapper drops
 * private ones, which on a lab network are all of them). `onComponents`
 * gets libp2p's components, for counting the records in the datastore.
 */
export function dhtService (config: DhtConfig, onComponents?: (c: KadDHTComponents) => void): (components: KadDHTComponents) => KadDHT {
  const factory = kadDHT({
    protocol: config.protocol,
    clientMode: false,
    peerInfoMapper: passthroughMapper,
    kBucketSize: config.kBucketSize,
    alpha: config.alpha,
    disjointPaths: config.disjointPaths,
    querySelfInterval: config.querySelfIntervalMs,
    initialQuerySelfInterval: config.initialQuerySelfIntervalMs,
    networkDialTimeout: { minTimeout: config.rpcTimeoutMinMs, maxTimeout: Math.max(config.rpcTimeoutMinMs, config.rpcTimeoutMaxMs) },
    reprovide: {
      validity: config.providerValidityMs,
      threshold: config.reprovideThresholdMs,
      interval: config.reprovideIntervalMs
    }
  })
  return (components) => {
    onComponents?.(components)
    const dht = factory(components)
    if (config.routingTableRefresh === 0) {
      // kad-dht starts its refresh from this bound method; a no-op in its place turns the refresh off
      const refresh = (dht as any).routingTableRefresh
      if (refresh !== undefined) refresh.refreshTable = async () => {}
    }
    return dht
  }
}

/**
 * contactPings 0 (labs only, see DEFAULTS.contactPings): kad-dht's routing
 * table takes every new contact as verified instead of pinging it first,
 * except our own id (a reply to a self-lookup names the asker). kad-dht has
 * no option for it: its bucket trie (made when the service starts) calls
 * `verify` before adding a contact, and that method is replaced.
 */
export function trustContacts (dht: SingleKadDHT, self: PeerId): boolean {
  const kb = (dht.routingTable as unknown as { kb?: { verify: (contact: { peerId: PeerId }) => Promise<boolean> } }).kb
  if (kb === undefined) return false
  kb.verify = async (contact) => !contact.peerId.equals(self)
  return true
}

/** Where kad-dht keeps provider records: `/dht/provider/<multihash b32>/<peer id>`. */
export const PROVIDER_PREFIX = '/dht/provider/'

/** Counts provider records in a kad-dht datastore: all of them, ours, and distinct keys. */
export async function countProviderRecords (components: Pick<KadDHTComponents, 'datastore' | 'peerId'>): Promise<{ records: number, own: number, keys: number }> {
  const self = components.peerId.toString()
  const keys = new Set<string>()
  let records = 0
  let own = 0
  for await (const { key } of components.datastore.query({ prefix: PROVIDER_PREFIX })) {
    const [cid, peer] = key.toString().slice(PROVIDER_PREFIX.length).split('/')
    records++
    keys.add(cid)
    if (peer === self) own++
  }
  return { records, own, keys: keys.size }
}

const RECORD_COUNT_INTERVAL_MS = 2_000

/**
 * `sedai daemon --mode dht`: the structured generation. Shared files are
 * announced as kad-dht provider records under their CID and under a key per
 * keyword of their name; `get` without --from finds providers by CID and the
 * core swarms from all of them; `search` looks up each keyword, asks the
 * peers found under all of them for their matching files and checks the
 * answers against the query (docs/DHT.md).
 */
export class DhtPeer implements Mode {
  readonly name = 'dht'
  private readonly config: DhtConfig
  private readonly log: Logger
  private components?: KadDHTComponents
  private ctx?: ModeContext
  private dht?: SingleKadDHT
  private publisher?: Publisher
  private controller = new AbortController()
  private join?: Join
  private recordTimer?: NodeJS.Timeout
  private records = { records: 0, own: 0, keys: 0, countedAt: 0 }
  private readonly fileKeywords = new Map<string, string[]>()
  private readonly latencies: number[] = []
  private readonly fullLatencies: number[] = []
  private readonly hops: number[] = []
  private readonly queried: number[] = []
  private readonly counts = { lookups: 0, found: 0, notFound: 0, failed: 0, localHits: 0, searches: 0, keywordQueriesServed: 0, keywordQueriesSent: 0, keywordQueryFailures: 0, queriedTotal: 0, hopsTotal: 0 }

  /** how long a lookup goes on after its first provider (lookup.ts adaptiveSettle) */
  private readonly settle: (firstProviderMs: number) => number

  constructor (init: ModeInit, config: Partial<DhtConfig> = {}) {
    this.config = resolveConfig(config)
    this.settle = adaptiveSettle(this.config.providerSettleMinMs, this.config.providerSettleMaxMs)
    this.log = init.logger.child({ component: 'dht' })
  }

  services (): Record<string, (components: any) => unknown> {
    return { dht: dhtService(this.config, (c) => { this.components = c }) }
  }

  async start (ctx: ModeContext): Promise<void> {
    const dht = (ctx.node.services as Record<string, unknown>).dht as SingleKadDHT | undefined
    if (dht === undefined) throw new DhtNotStartedError('the kad-dht service is missing from the node')
    this.ctx = ctx
    this.dht = dht
    if (this.config.contactPings === 0 && !trustContacts(dht, ctx.node.peerId)) {
      this.log.warn('contactPings 0 asked for, but kad-dht\'s routing table has no bucket trie to patch: contacts are still pinged')
    }
    this.controller = new AbortController()
    await ctx.node.handle(KEYWORD_PROTOCOL, (stream) => {
      this.counts.keywordQueriesServed++
      serveKeywordQuery(stream, { match: (kws) => this.matchLocal(kws), stats: ctx.stats }).catch((err: any) => {
        this.log.debug({ err: err.message }, 'keyword query stream failed')
      })
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
    this.join = new Join({
      dht,
      dial: async (addr, signal) => await ctx.node.dial(multiaddr(addr), { signal }),
      bootstrap: ctx.bootstrap,
      self: ctx.node.peerId,
      k: this.config.kBucketSize,
      signal: this.controller.signal,
      log: this.log
    })
    this.publisher = new Publisher({ dht, config: this.config, log: this.log, join: this.join, signal: this.controller.signal })
    this.recordTimer = setInterval(() => { this.countRecords(); this.publisher?.reprovideOnGrowth() }, RECORD_COUNT_INTERVAL_MS)
    this.recordTimer.unref()
    this.sharesChanged()
    this.log.info({ protocol: this.config.protocol, k: this.config.kBucketSize, alpha: this.config.alpha }, 'dht mode started')
  }

  async stop (): Promise<void> {
    this.controller.abort()
    clearInterval(this.recordTimer)
    this.publisher?.stop()
    if (this.ctx !== undefined) await this.ctx.node.unhandle(KEYWORD_PROTOCOL).catch(() => {})
    this.ctx = undefined
  }

  /** What we should be providing: every shared file's CID and every keyword of its name. */
  private wanted (): Map<string, { cid: CID, kind: 'file' | 'keyword' }> {
    const want = new Map<string, { cid: CID, kind: 'file' | 'keyword' }>()
    const files = (this.ctx as ModeContext).store.list()
    const live = new Set<string>()
    for (const f of files) {
      live.add(f.cid)
      want.set(f.cid, { cid: parseCid(f.cid), kind: 'file' })
      for (const kw of this.keywordsOf(f)) {
        const cid = keywordCid(kw)
        want.set(cid.toString(), { cid, kind: 'keyword' })
      }
    }
    for (const cid of this.fileKeywords.keys()) if (!live.has(cid)) this.fileKeywords.delete(cid)
    return want
  }

  private keywordsOf (f: SharedFile): string[] {
    let kws = this.fileKeywords.get(f.cid)
    if (kws === undefined) {
      kws = keywords(f.name, this.config.maxKeywordsPerFile)
      this.fileKeywords.set(f.cid, kws)
    }
    return kws
  }

  sharesChanged (): void {
    this.publisher?.sync(this.wanted())
  }

  private record (r: LookupResult): void {
    this.counts.lookups++
    const push = (arr: number[], v: number): void => { arr.push(v); if (arr.length > this.config.latencySamples) arr.shift() }
    push(this.fullLatencies, r.durationMs)
    push(this.queried, r.queried)
    // running sums, so a caller can take differences over an interval (the lab's messages per search)
    this.counts.queriedTotal += r.queried
    // every lookup into the /metrics histograms too: the arrays above keep only the latest samples
    this.ctx?.stats.observe('dht.lookupSeconds', r.durationMs / 1000, { outcome: r.firstProviderMs !== undefined ? 'found' : r.self ? 'self' : 'not_found' })
    if (r.firstProviderMs !== undefined) this.ctx?.stats.observe('dht.firstProviderSeconds', r.firstProviderMs / 1000)
    if (r.firstProviderMs !== undefined) {
      this.counts.found++
      push(this.latencies, r.firstProviderMs)
      push(this.hops, r.hops ?? 0)
      this.counts.hopsTotal += r.hops ?? 0
      if (r.hops === 0) this.counts.localHits++
    } else if (!r.self) {
      this.counts.notFound++
    }
  }

  private async lookup (cid: CID, signal: AbortSignal, opts: Pick<LookupInit, 'onProvider' | 'settleMs' | 'afterLocal'> = {}): Promise<LookupResult> {
    if (this.dht === undefined || this.ctx === undefined) throw new DhtNotStartedError('dht mode is not running')
    const started = performance.now()
    try {
      const r = await findProvidersTracked(this.dht, cid, {
        signal: AbortSignal.any([signal, this.controller.signal]),
        maxProviders: this.config.maxProviders,
        self: this.ctx.node.peerId,
        ...opts
      })
      this.record(r)
      this.log.debug({ key: cid.toString(), providers: r.providers.length, self: r.self, hops: r.hops, queried: r.queried, firstProviderMs: r.firstProviderMs, durationMs: Math.round(r.durationMs), ended: r.ended }, 'lookup')
      await this.remember(r.providers)
      return r
    } catch (err: any) {
      this.counts.lookups++
      this.counts.failed++
      this.ctx?.stats.observe('dht.lookupSeconds', (performance.now() - started) / 1000, { outcome: 'failed' })
      this.log.debug({ key: cid.toString(), err: err.message }, 'lookup failed')
      throw err
    }
  }

  /** Keeps the providers' addresses (from their records) so the transfer can dial them by peer id. */
  private async remember (providers: PeerInfo[]): Promise<void> {
    const node = (this.ctx as ModeContext).node
    for (const p of providers) {
      if (p.multiaddrs.length === 0) continue
      await node.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch(() => {})
    }
  }

  async findProviders (cid: string, opts: { signal: AbortSignal }): Promise<Source[]> {
    // a get swarms from every source it has at the start: the settle time lets a second one in
    const r = await this.lookup(parseCid(cid), opts.signal, { settleMs: this.settle })
    return r.providers.map(p => p.id)
  }

  /** The shared files whose names hold every keyword. */
  private matchLocal (kws: string[]): ResultFile[] {
    const out: ResultFile[] = []
    for (const f of (this.ctx as ModeContext).store.list()) {
      if (matches(this.keywordsOf(f), kws)) out.push({ cid: parseCid(f.cid).bytes, size: f.size, name: f.name })
    }
    return out
  }

  async search (query: string, opts: SearchOptions): Promise<SearchHit[]> {
    if (this.ctx === undefined) throw new DhtNotStartedError('dht mode is not running')
    const ctx = this.ctx
    const kws = keywords(query, MAX_QUERY_KEYWORDS)
    if (kws.length === 0) throw new NoKeywordsError(`no searchable keyword in ${JSON.stringify(query)} (words need ${2} letters or more)`)
    this.counts.searches++
    const signal = AbortSignal.any([opts.signal, this.controller.signal])
    const { hits } = await keywordSearch({
      keywords: kws,
      signal,
      maxPeers: this.config.maxSearchPeers,
      concurrency: this.config.searchConcurrency,
      localFirstMs: this.config.localFirstMs,
      // the walk runs to its end (no settle, unlike a get's): stopping it after the first provider, as a get does, cut
      // the lab's messages per search at N = 64 from 44 to 8 but raised its first hit p50 from ~170 to ~240 ms in two
      // runs (docs/DHT.md); the hits stream either way
      lookup: async (kw, onProvider, afterLocal) => await this.lookup(keywordCid(kw), signal, { onProvider, afterLocal }),
      ask: async (peer, asked) => {
        // the lookup's records carry the holder's addresses: a dial needs them before remember() has run
        if (peer.multiaddrs.length > 0 && ctx.node.getConnections(peer.id).length === 0) await ctx.node.peerStore.merge(peer.id, { multiaddrs: peer.multiaddrs }).catch(() => {})
        return await this.ask(peer, asked, signal)
      },
      local: () => ({ peerId: ctx.node.peerId.toString(), addrs: ctx.node.getMultiaddrs().map(String), files: this.matchLocal(kws) }),
      onHit: opts.onHit,
      onAskFailed: (peer, err) => {
        this.counts.keywordQueryFailures++
        this.log.debug({ peer: peer.id.toString(), err: err.message }, 'keyword query failed')
      }
    })
    return hits
  }

  private async ask (peer: PeerInfo, kws: string[], signal: AbortSignal): Promise<ResultFile[]> {
    const node = (this.ctx as ModeContext).node
    this.counts.keywordQueriesSent++
    // the protocol name goes out with the QUERY (no round trip of its own): one protocol, and the reply says if it is spoken
    const stream = await node.dialProtocol(peer.id as PeerId, KEYWORD_PROTOCOL, { signal, negotiateFully: false })
    return await askKeywords(stream, kws, { signal, stats: this.ctx?.stats })
  }

  private countRecords (): void {
    if (this.components === undefined) return
    countProviderRecords(this.components).then(r => { this.records = { ...r, countedAt: Date.now() } }, () => {})
  }

  stats (): Record<string, unknown> {
    const mean = (a: number[]): number | undefined => a.length === 0 ? undefined : Math.round(a.reduce((x, y) => x + y, 0) / a.length * 100) / 100
    const ms = (v: number | undefined): number | undefined => v === undefined ? undefined : Math.round(v * 10) / 10
    this.countRecords()
    return {
      protocol: this.config.protocol,
      mode: this.dht?.getMode(),
      k: this.config.kBucketSize,
      alpha: this.config.alpha,
      routingTableSize: this.dht?.routingTable.size ?? 0,
      ...(this.join !== undefined ? this.join.state : { joined: false, attempts: 0, closest: 0 }),
      lookups: { ...pick(this.counts, ['lookups', 'found', 'notFound', 'failed', 'localHits', 'queriedTotal', 'hopsTotal']) },
      hops: { mean: mean(this.hops), p50: percentile(this.hops, 50), max: this.hops.length > 0 ? Math.max(...this.hops) : undefined, samples: this.hops.length },
      queriedPeers: { mean: mean(this.queried), p50: percentile(this.queried, 50) },
      latencyMs: {
        firstProviderP50: ms(percentile(this.latencies, 50)),
        firstProviderP99: ms(percentile(this.latencies, 99)),
        lookupP50: ms(percentile(this.fullLatencies, 50)),
        lookupP99: ms(percentile(this.fullLatencies, 99))
      },
      records: { stored: this.records.records, own: this.records.own, forOthers: this.records.records - this.records.own, keys: this.records.keys, countedAt: this.records.countedAt === 0 ? undefined : new Date(this.records.countedAt).toISOString() },
      ...(this.publisher?.stats() ?? {}),
      search: { ...pick(this.counts, ['searches', 'keywordQueriesSent', 'keywordQueryFailures', 'keywordQueriesServed']) }
    }
  }

  info (): Record<string, unknown> {
    return { protocol: this.config.protocol, routingTableSize: this.dht?.routingTable.size ?? 0 }
  }

  /** The routing table's contacts, each with its bucket (the prefix length its Kademlia id shares with ours). */
  overlay (): OverlayLink[] {
    // kad-dht's public type has only the size; its routing table keeps the trie in `kb`
    const kb = (this.dht?.routingTable as RoutingTableTrie | undefined)?.kb
    const self = kb?.localPeer?.kadId
    if (kb === undefined || self === undefined) return []
    const links: OverlayLink[] = []
    for (const contact of kb.toIterable()) {
      links.push({ peerId: contact.peerId.toString(), kind: 'dht', bucket: commonPrefixLength(self, contact.kadId) })
    }
    return links
  }
}

/** The part of kad-dht's RoutingTable that overlay() reads (not in its public types, hence optional). */
interface RoutingTableTrie {
  kb?: {
    localPeer?: { kadId: Uint8Array }
    toIterable: () => Iterable<{ peerId: PeerId, kadId: Uint8Array }>
  }
}

/** Leading bits two Kademlia ids share: the index of the k-bucket one falls in, seen from the other. */
export function commonPrefixLength (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i] ^ b[i]
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return n * 8
}

function pick<T extends Record<string, number>> (o: T, keys: Array<keyof T>): Record<string, number> {
  return Object.fromEntries(keys.map(k => [k, o[k]])) as Record<string, number>
}
