import { join } from 'node:path'
import { DownloadFailedError, InvalidPathError, NotFoundError } from '@sedai/core'
import { downloadInBand } from '@sedai/flooding-peer'
import { ChunkCache } from './cache/cache.ts'
import { resolveConfig } from './config.ts'
import { SupernodeService } from './protocol/supernode.ts'
import type { SupernodeConfig } from './config.ts'
import type { RoleName } from './election.ts'
import type { ContentStore, DownloadResult, InBandGetOptions, Mode, ModeContext, ModeFactory, ModeInit, SearchHit, SearchOptions, Source } from '@sedai/core'

/** Where the encrypted cache lives in a repo. */
export const CACHE_DIR = 'supernode-cache'

/**
 * `sedai daemon --mode supernode [--role auto|super|leaf]`: the third
 * generation. `search` goes to the supernodes (a leaf) or floods among them
 * (a supernode); `get` follows the hit's path in-band, so that supernodes on
 * the path can serve and cache the file.
 */
export class SupernodeMode implements Mode {
  readonly name = 'supernode'
  readonly inBandDefault = true
  private readonly config: SupernodeConfig
  private readonly init: ModeInit
  private service?: SupernodeService
  private cache?: ChunkCache
  private store?: ContentStore
  /** CID -> responders of recent hits, most recent first */
  private readonly providers = new Map<string, string[]>()

  constructor (init: ModeInit, config: SupernodeConfig) {
    this.init = init
    this.config = config
  }

  async start (ctx: ModeContext): Promise<void> {
    this.cache = await ChunkCache.open({ dir: join(ctx.repo, CACHE_DIR), maxBytes: this.config.cacheBytes, policy: this.config.cachePolicy })
    this.store = ctx.store
    this.service = new SupernodeService(ctx.node as any, {
      config: this.config,
      stats: ctx.stats,
      logger: ctx.logger,
      store: ctx.store,
      cache: this.cache,
      role: (this.init.role ?? 'auto') as 'auto' | RoleName,
      interests: this.init.interests ?? [],
      bootstrap: ctx.bootstrap,
      uploadRate: this.init.uploadRate ?? 0,
      faultCorrupt: this.init.faultCorrupt ?? 0
    })
    await this.service.start()
  }

  async stop (): Promise<void> {
    await this.service?.stop()
    await this.cache?.close()
  }

  private get svc (): SupernodeService {
    if (this.service === undefined) throw new Error('supernode mode not started')
    return this.service
  }

  private remember (hit: SearchHit): void {
    const list = this.providers.get(hit.cid) ?? []
    for (const p of hit.providers) if (!list.includes(p.peerId)) list.push(p.peerId)
    this.providers.delete(hit.cid)
    this.providers.set(hit.cid, list)
    while (this.providers.size > this.config.providerCacheSize) this.providers.delete(this.providers.keys().next().value as string)
  }

  async search (query: string, opts: SearchOptions): Promise<SearchHit[]> {
    return await this.svc.search(query, {
      ttl: opts.ttl,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      onHit: (hit) => {
        this.remember(hit)
        opts.onHit?.(hit)
      }
    })
  }

  /** No direct sources: this generation's transfer is in-band (getInBand). */
  async findProviders (_cid: string, _opts: { signal: AbortSignal }): Promise<Source[]> {
    return []
  }

  /**
   * The file along the path of a recent hit (after a query for the CID when
   * there is none); responders are tried in the order their hits arrived
   * (the nearest, often a cache, first).
   */
  async getInBand (cid: string, opts: InBandGetOptions): Promise<DownloadResult> {
    const svc = this.svc
    const targets = (): string[] => (this.providers.get(cid) ?? []).filter(p => svc.hasPathTo(p))
    const failures: string[] = []
    const tried = new Set<string>()
    // the responders we know first; when they all fail (gone, lying), a fresh query for the CID finds others
    let searched = false
    for (let round = 0; round < 2; round++) {
      if (round === 1 && searched && tried.size === 0) break // a query just now found no one: asking again will not either
      if (round === 1 || targets().length === 0) {
        searched = true
        await svc.search(cid, {
          timeoutMs: this.config.findProvidersTimeoutMs,
          afterFirstHitMs: this.config.findProvidersGraceMs,
          signal: opts.signal,
          onHit: (hit) => { if (hit.cid === cid) this.remember(hit) }
        }).catch(err => {
          if (opts.signal.aborted) throw err
          failures.push(`search: ${err.message}`)
        })
      }
      for (const target of targets()) {
        if (tried.has(target)) continue
        tried.add(target)
        try {
          return await downloadInBand({
            cid,
            target,
            store: this.store as ContentStore,
            signal: opts.signal,
            onProgress: opts.onProgress,
            resolveDest: opts.resolveDest,
            fetch: async (index, offset, length, signal) => await svc.fetchRange({ target, cid, index, offset, length }, undefined, signal)
          })
        } catch (err: any) {
          // a local problem (the destination exists) is no reason to try another path
          if (opts.signal.aborted || err instanceof InvalidPathError) throw err
          failures.push(`${target}: ${err.message}`)
        }
      }
    }
    if (tried.size === 0) throw new NotFoundError(`no supernode path to a peer that has ${cid}`)
    throw new DownloadFailedError(`in-band download of ${cid} failed: ${failures.join('; ')}`)
  }

  sharesChanged (): void {
    this.service?.sharesChanged()
  }

  stats (): Record<string, unknown> {
    return this.service?.snapshot() ?? {}
  }

  info (): Record<string, unknown> {
    return this.service?.info() ?? {}
  }

  peerInfo (peerId: string): Record<string, unknown> | undefined {
    return this.service?.peerInfo(peerId)
  }
}

/** The factory `--mode supernode` loads; tunables from the environment (docs/SUPERNODE.md). */
export const supernodeMode: ModeFactory = (init) => new SupernodeMode(init, resolveConfig({}, process.env))
