import {
  InvalidMessageError, InvalidOptionError, NotFoundError, chunkCount, chunkHash, chunkLength, parseCid, sameBytes, setBounded, sha256, verifyManifest
} from '@sedai/core'
import { MANIFEST_INDEX, MessageType, RelayStatus, encodeRelayReply, fetchWhole } from '@sedai/flooding-peer'
import { CorruptUpstreamError } from '../errors.ts'
import type { ChunkCache } from '../cache/cache.ts'
import type { SupernodeConfig } from '../config.ts'
import type { RoleName } from '../election.ts'
import type { ContentStore, Logger, Manifest, RateLimiter, Stats } from '@sedai/core'
import type { Neighbour, RelayRequest } from '@sedai/flooding-peer'

/** One range asked of the next hop toward `target` (the service routes it along the hits' path). */
export type RangeRequest = (target: string, cid: string, index: number, offset: number, length: number, signal?: AbortSignal) => Promise<{ total: number, data: Uint8Array }>

export interface PathRelayInit {
  self: string
  config: SupernodeConfig
  stats: Stats
  logger: Logger
  store: ContentStore
  cache: ChunkCache
  /** fraction of chunks served from our store corrupted on purpose (fault injection) */
  faultCorrupt: number
  role: () => RoleName
  request: RangeRequest
  /** the link (peer id) a request toward `target` leaves by, if any */
  nextHop: (target: string) => string | undefined
  /** the upload limiter every relayed byte goes through (`--upload-rate`) */
  limiter?: RateLimiter
}

/** A link that sends us relayed requests, and how many of them we are working on. */
export interface RelayingLink { neighbour: Neighbour, relaying: number }

/** A chunk held in memory while its ranges are relayed; `fetchedFor` = the requester whose request fetched it upstream. */
interface Held { fetchedFor?: string, via?: string, servedTo: Set<string>, data: Promise<Uint8Array> }



/**
 * The in-band half of a supernode: answers relayed range requests from the
 * node's store, its encrypted cache, or (a supernode) a verified upstream
 * fetch that it then caches — Freenet's and Winny's path caching.
 */
export class PathRelay {
  private readonly self: string
  private readonly config: SupernodeConfig
  private readonly stats: Stats
  private readonly log: Logger
  private readonly store: ContentStore
  private readonly cache: ChunkCache
  private readonly faultCorrupt: number
  private readonly role: () => RoleName
  private readonly request: RangeRequest
  private readonly nextHop: (target: string) => string | undefined
  private readonly limiter?: RateLimiter
  /** verified chunks being relayed: the ranges of one chunk arrive one after another */
  private readonly recent = new Map<string, Held>()
  /** our own shared chunks being served in ranges */
  private readonly ownChunks = new Map<string, Promise<Uint8Array>>()
  /** CID -> whether this supernode caches it (decided once per file, with cacheProbability) */
  private readonly cacheDecision = new Map<string, boolean>()
  private readonly manifests = new Map<string, Promise<{ manifest: Manifest, bytes: Uint8Array }>>()

  constructor (init: PathRelayInit) {
    this.self = init.self
    this.config = init.config
    this.stats = init.stats
    this.log = init.logger
    this.store = init.store
    this.cache = init.cache
    this.faultCorrupt = init.faultCorrupt
    this.role = init.role
    this.request = init.request
    this.nextHop = init.nextHop
    this.limiter = init.limiter
  }

  /**
   * A RELAY_REQUEST from `from`, answered (through the upload limiter) with
   * what fetchRange finds. Each request may make us fetch a whole chunk
   * upstream: a link gets at most maxRelayPerLink worked on at once, the rest
   * are answered ERROR (busy).
   */
  onRequest (from: RelayingLink, r: RelayRequest): void {
    const reply = (status: RelayStatus, total: number, data?: Uint8Array, error?: string): void => {
      const send = (): void => { from.neighbour.send({ type: MessageType.RELAY_REPLY, bytes: encodeRelayReply({ id: r.id, status, total, data, error }) }) }
      if (this.limiter !== undefined && data !== undefined) this.limiter.take(data.byteLength).then(send, () => {})
      else send()
    }
    if (r.ttl <= 1 && r.target !== this.self) { reply(RelayStatus.NOT_FOUND, 0, undefined, 'relay TTL exhausted'); return }
    if (from.relaying >= this.config.maxRelayPerLink) {
      this.inc('relayRefusedBusy')
      reply(RelayStatus.ERROR, 0, undefined, `busy: ${from.relaying} requests of yours in progress`)
      return
    }
    from.relaying++
    this.inc('relayRequests')
    this.fetchRange(r, from.neighbour.peerId).then(({ total, data }) => {
      reply(RelayStatus.OK, total, data)
    }, (err: any) => {
      this.inc('relayFailed')
      reply(err instanceof NotFoundError ? RelayStatus.NOT_FOUND : RelayStatus.ERROR, 0, undefined, String(err.message).slice(0, 200))
    }).finally(() => { from.relaying-- })
  }

  private inc (key: string, n = 1): void {
    this.stats.inc(`supernode.${key}`, n)
  }

  /** A whole chunk (or manifest) from upstream, range by range (fetchWhole); a responder breaking the range rules is corrupt upstream. */
  private async upstreamWhole (target: string, cid: string, index: number, limit: number, signal?: AbortSignal): Promise<Uint8Array> {
    // we are the responder (a hit for our cache): what the cache lacks, we do not have
    if (target === this.self) throw new NotFoundError('not shared or cached here (any more)')
    try {
      return await fetchWhole(async (i, offset, length, sig) => await this.request(target, cid, i, offset, length, sig), index, limit, signal)
    } catch (err: any) {
      throw err instanceof InvalidMessageError ? new CorruptUpstreamError(`upstream: ${err.message}`) : err
    }
  }

  /** The file's manifest, verified against the CID: from the cache, else from upstream (and then cached if this file is cached). */
  private async manifest (cid: string, target: string, signal?: AbortSignal): Promise<{ manifest: Manifest, bytes: Uint8Array }> {
    let p = this.manifests.get(cid)
    if (p === undefined) {
      p = (async () => {
        let bytes = await this.cache.getManifest(cid)
        const fromCache = bytes !== undefined
        if (bytes === undefined) bytes = await this.upstreamWhole(target, cid, MANIFEST_INDEX, 1024 * 1024, signal)
        let manifest: Manifest
        try {
          manifest = await verifyManifest(parseCid(cid), bytes)
        } catch (err: any) {
          this.inc('corruptRejected')
          throw new CorruptUpstreamError(`manifest of ${cid} failed verification: ${err.message}`)
        }
        if (!fromCache && this.caches(cid)) await this.cache.putManifest(cid, bytes, { name: manifest.name, size: manifest.size, chunks: chunkCount(manifest) })
        return { manifest, bytes }
      })()
      setBounded(this.manifests, cid, p, this.config.providerCacheSize)
      p.catch(() => { if (this.manifests.get(cid) === p) this.manifests.delete(cid) })
    }
    return await p
  }

  private caches (cid: string): boolean {
    let d = this.cacheDecision.get(cid)
    if (d === undefined) {
      d = Math.random() < this.config.cacheProbability
      setBounded(this.cacheDecision, cid, d, this.config.providerCacheSize)
    }
    return d
  }

  /**
   * A chunk (or the manifest) a supernode relays: from its cache when it has
   * it, else fetched whole from upstream, verified against the manifest
   * (bytes that fail are neither cached nor passed on), and cached. Either
   * way it stays in memory while its ranges are asked (a chunk travels as
   * several ranges): one cache read or one upstream fetch per chunk, not per range.
   * `from` says where this requester's bytes come from: 'upstream' only for
   * the requester whose request made us fetch it.
   */
  private async relayWhole (target: string, cid: string, index: number, requester: string, signal?: AbortSignal): Promise<{ data: Uint8Array, from: 'cache' | 'upstream' }> {
    const key = `${cid}/${index === MANIFEST_INDEX ? 'm' : index}`
    let held = this.recent.get(key)
    // a chunk of a file this node does not cache is relayed for the request that fetched it only (caching off means off)
    if (held?.fetchedFor !== undefined && held.fetchedFor !== requester && !this.caches(cid)) held = undefined
    // paths learnt from different hits can point at each other; the request that comes back is refused, not awaited
    if (held?.via !== undefined && held.via === requester) throw new NotFoundError('relay loop: the request came back')
    if (held === undefined) {
      const entry: Held = { fetchedFor: requester, via: this.nextHop(target), servedTo: new Set(), data: Promise.resolve(new Uint8Array(0)) }
      entry.data = (async () => {
        if (index === MANIFEST_INDEX) {
          const bytes = await this.cache.getManifest(cid)
          if (bytes !== undefined) { entry.fetchedFor = undefined; return bytes }
          return (await this.manifest(cid, target, signal)).bytes
        }
        const cached = await this.cache.getChunk(cid, index)
        if (cached !== undefined) {
          entry.fetchedFor = undefined
          return cached
        }
        const { manifest } = await this.manifest(cid, target, signal)
        if (index >= chunkCount(manifest)) throw new NotFoundError(`chunk ${index} beyond the file's ${chunkCount(manifest)}`)
        const data = await this.upstreamWhole(target, cid, index, manifest.chunkSize, signal)
        if (data.byteLength !== chunkLength(manifest, index) || !sameBytes(sha256(data), chunkHash(manifest, index))) {
          this.inc('corruptRejected')
          this.log.warn({ cid, index, target }, 'upstream sent a chunk that fails verification: not cached, not relayed')
          throw new CorruptUpstreamError(`chunk ${index} of ${cid} from upstream failed verification`)
        }
        if (this.caches(cid) && await this.cache.putChunk(cid, index, data)) this.inc('chunksCached')
        return data
      })()
      held = entry
      setBounded(this.recent, key, entry, this.config.relayMemoryChunks)
      entry.data.catch(() => { if (this.recent.get(key) === entry) this.recent.delete(key) })
    }
    const data = await held.data
    const from = held.fetchedFor === requester ? 'upstream' : 'cache'
    // hits and misses per chunk and requester, not per range
    if (index !== MANIFEST_INDEX && !held.servedTo.has(requester)) {
      held.servedTo.add(requester)
      this.inc(from === 'cache' ? 'cacheHits' : 'cacheMisses')
    }
    return { data, from }
  }

  /** A chunk (or the manifest) of a file we share, for in-band requests; corrupted on purpose under fault injection. */
  private async fromStore (cid: string, index: number): Promise<Uint8Array | undefined> {
    if (!this.store.list().some(f => f.cid === cid)) return undefined
    if (index === MANIFEST_INDEX) return this.store.getManifest(cid)?.bytes
    const key = `${cid}/${index}`
    let p = this.ownChunks.get(key)
    if (p === undefined) {
      p = this.store.readChunk(cid, index).then(chunk => {
        if (this.faultCorrupt > 0 && Math.random() < this.faultCorrupt) {
          const bad = Uint8Array.from(chunk)
          bad[0] ^= 0xff
          return bad
        }
        return chunk
      })
      setBounded(this.ownChunks, key, p, this.config.relayMemoryChunks)
      p.catch(() => { if (this.ownChunks.get(key) === p) this.ownChunks.delete(key) })
    }
    return await p
  }

  /**
   * One range of a relayed request, wherever it comes from: our store (we
   * are the holder), our cache, or (a supernode) upstream through us. A leaf
   * relays nothing for others; its own requests go up unchanged (the
   * downloader verifies every chunk anyway).
   */
  async fetchRange (r: { target: string, cid: string, index: number, offset: number, length: number }, requester: string | undefined, signal?: AbortSignal): Promise<{ total: number, data: Uint8Array }> {
    const local = requester === undefined
    const slice = (whole: Uint8Array): { total: number, data: Uint8Array } => {
      if (r.offset > whole.byteLength) throw new InvalidOptionError(`offset ${r.offset} past the end (${whole.byteLength})`)
      return { total: whole.byteLength, data: whole.subarray(r.offset, Math.min(whole.byteLength, r.offset + r.length)) }
    }
    const own = await this.fromStore(r.cid, r.index)
    if (own !== undefined) {
      const out = slice(own)
      if (!local) this.inc('bytesServedOrigin', r.index === MANIFEST_INDEX ? 0 : out.data.byteLength)
      return out
    }
    if (this.role() !== 'super') {
      if (r.target === this.self) throw new NotFoundError('not shared here')
      if (!local) throw new NotFoundError('a leaf does not relay')
      return await this.request(r.target, r.cid, r.index, r.offset, r.length, signal)
    }
    const { data, from } = await this.relayWhole(r.target, r.cid, r.index, requester ?? this.self, signal)
    const out = slice(data)
    if (!local && r.index !== MANIFEST_INDEX) this.inc(from === 'cache' ? 'bytesServedCache' : 'bytesRelayed', out.data.byteLength)
    return out
  }
}
