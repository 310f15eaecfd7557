import { multiaddr } from '@multiformats/multiaddr'
import { DownloadFailedError, NotFoundError } from '@sedai/core'
import { resolveConfig } from './config.ts'
import { downloadInBand } from './in-band.ts'
import { FloodService } from './protocol/flood.ts'
import type { FloodConfig } from './config.ts'
import type { ContentStore, DownloadResult, InBandGetOptions, Mode, ModeContext, ModeFactory, ModeInit, SearchHit, SearchOptions, Source } from '@sedai/core'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * `sedai daemon --mode flood`: Gnutella's pure peer. No server: `search`
 * floods the overlay, `get` without --from uses the responders of recent
 * hits (or floods a query for the CID), and the transfer is direct.
 */
export class FloodMode implements Mode {
  readonly name = 'flood'
  private readonly config: FloodConfig
  private service?: FloodService
  private store?: ContentStore
  /** CID -> responder -> addresses, from recent hits; oldest CID forgotten first */
  private readonly providers = new Map<string, Map<string, string[]>>()

  constructor (_init: ModeInit, config: FloodConfig) {
    this.config = config
  }

  async start (ctx: ModeContext): Promise<void> {
    this.service = new FloodService(ctx.node as any, {
      config: this.config,
      stats: ctx.stats,
      logger: ctx.logger,
      files: () => ctx.store.list(),
      bootstrap: ctx.bootstrap,
      store: ctx.store
    })
    this.store = ctx.store
    await this.service.start()
  }

  async stop (): Promise<void> {
    await this.service?.stop()
  }

  private get flood (): FloodService {
    if (this.service === undefined) throw new Error('flood mode not started')
    return this.service
  }

  private remember (hit: SearchHit): void {
    let byPeer = this.providers.get(hit.cid)
    if (byPeer === undefined) {
      byPeer = new Map()
      this.providers.set(hit.cid, byPeer)
      while (this.providers.size > this.config.providerCacheSize) this.providers.delete(this.providers.keys().next().value as string)
    }
    for (const p of hit.providers) byPeer.set(p.peerId, p.addrs)
  }

  async search (query: string, opts: SearchOptions): Promise<SearchHit[]> {
    return await this.flood.search(query, {
      ttl: opts.ttl,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      onHit: (hit) => {
        this.remember(hit)
        opts.onHit?.(hit)
      }
    })
  }

  /** Responders of recent hits for `cid`; if none, a flooded query for the CID itself. */
  async findProviders (cid: string, opts: { signal: AbortSignal }): Promise<Source[]> {
    if (this.providers.get(cid) === undefined || this.providers.get(cid)?.size === 0) {
      if (this.flood.neighbours().length === 0) return []
      await this.flood.search(cid, {
        timeoutMs: this.config.findProvidersTimeoutMs,
        afterFirstHitMs: this.config.findProvidersGraceMs,
        signal: opts.signal,
        onHit: (hit) => { if (hit.cid === cid) this.remember(hit) }
      })
    }
    const sources: Multiaddr[] = []
    for (const [peerId, addrs] of this.providers.get(cid) ?? []) {
      for (const a of addrs) {
        try {
          sources.push(multiaddr(`${a}/p2p/${peerId}`))
          break // one address per peer: the downloader runs one session per source
        } catch {}
      }
    }
    return sources
  }

  /**
   * `get --in-band`: from a responder of a recent hit (after a flooded query for
   * the CID if there is none), along the path its hit came by; the next
   * responder is tried when one fails.
   */
  async getInBand (cid: string, opts: InBandGetOptions): Promise<DownloadResult> {
    const flood = this.flood
    const store = this.store as ContentStore
    const paths = (): string[] => [...(this.providers.get(cid)?.keys() ?? [])].filter(p => flood.hasPathTo(p))
    if (paths().length === 0) await this.findProviders(cid, { signal: opts.signal })
    const targets = paths()
    if (targets.length === 0) throw new NotFoundError(`no overlay path to a peer that has ${cid}: search for it first`)
    const failures: string[] = []
    for (const target of targets) {
      try {
        return await downloadInBand({
          cid,
          target,
          store,
          signal: opts.signal,
          onProgress: opts.onProgress,
          resolveDest: opts.resolveDest,
          fetch: async (index, offset, length, signal) => await flood.relayFetch(target, cid, index, offset, length, signal)
        })
      } catch (err: any) {
        if (opts.signal.aborted) throw err
        failures.push(`${target}: ${err.message}`)
      }
    }
    throw new DownloadFailedError(`in-band download of ${cid} failed: ${failures.join('; ')}`)
  }

  stats (): Record<string, unknown> {
    return this.service?.snapshot() ?? {}
  }

  info (): Record<string, unknown> {
    return { neighbours: this.service?.neighbours() ?? [], ttl: this.config.defaultTtl, maxTtl: this.config.maxTtl }
  }
}

/** The factory `--mode flood` loads; tunables from the environment (docs/FLOOD.md). */
export const floodMode: ModeFactory = (init) => new FloodMode(init, resolveConfig({}, process.env))
