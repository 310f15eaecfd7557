import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import {
  ContentStore, DEFAULTS, DownloadFailedError, InvalidOptionError, NotFoundError, InvalidPathError, SearchFailedError, Stats, TRANSFER_PROTOCOL,
  checkDestination, createLogger, createNode, loadOrCreateIdentity, parseCid, processStats, transfer
} from '@sedai/core'
import { createDashboard } from '@sedai/dashboard'
import { startApiServer } from './api-server.ts'
import { DownloadLog } from './downloads.ts'
import { buildOverlay } from './overlay.ts'
import { createDaemonMetrics } from './metrics.ts'
import type { DaemonMetrics } from './metrics.ts'
import { loadModeFactory } from './modes.ts'
import type { DaemonOptions } from './args.ts'
import type { DaemonApi, DownloadInfo, GetProgress, GetRequest, GetResult, IdInfo, MetricsText, OverlayInfo, PeerInfo, SearchRequest, SearchResponse, SearchResult, SharedFileInfo } from './daemon-api.ts'
import type { CreateNodeInit, LanDiscovery, LanDiscoveryEvents, Destination, Logger, Manifest, Mode, SearchHit, SedaiLibp2p, Source, TransferService } from '@sedai/core'

/** The daemon's options, as `sedai daemon` parses them (args.ts). */
export type DaemonConfig = Omit<DaemonOptions, 'json'>

/**
 * What an embedding program (the lab, which runs many daemons in one
 * process) may change beyond the command line's options.
 */
export interface DaemonExtras {
  /** libp2p settings for createNode (connection limits, the connection monitor) */
  node?: Omit<CreateNodeInit, 'privateKey' | 'services' | 'listen'>
  /** serve the control API; default true (an embedded daemon is driven by its methods) */
  api?: boolean
}

type Node = SedaiLibp2p<{ transfer: TransferService }>

/**
 * The daemon: one libp2p node, the content store and the control API. It
 * implements DaemonApi; the HTTP layer only translates.
 */
export class Daemon implements DaemonApi {
  private readonly config: DaemonConfig
  private readonly log: Logger
  private readonly store: ContentStore
  private readonly counters = new Stats()
  private readonly downloadLog = new DownloadLog()
  private readonly startedAt = Date.now()
  private node?: Node
  private api?: { url: string, token: string, close: () => Promise<void> }
  private stopping?: Promise<void>
  private readonly stopped: Promise<void>
  private resolveStopped!: () => void
  private modes: Mode[] = []
  private readonly extras: DaemonExtras
  /** `/metrics`; only with the control API (the lab's embedded daemons have neither) */
  private readonly exporter?: DaemonMetrics
  private activeDownloads = 0

  constructor (config: DaemonConfig, logger: Logger, extras: DaemonExtras = {}) {
    this.config = config
    this.extras = extras
    this.log = logger.child({ component: 'daemon' })
    this.store = new ContentStore({ repo: config.repo, logger })
    this.stopped = new Promise(resolve => { this.resolveStopped = resolve })
    // before the modes start, so the histograms see every observation
    if (extras.api !== false) this.exporter = createDaemonMetrics({ modes: config.modes, counters: this.counters, stats: async () => await this.stats() })
  }

  async start (logger: Logger): Promise<void> {
    await mkdir(this.config.repo, { recursive: true, mode: 0o700 })
    const privateKey = await loadOrCreateIdentity(this.config.repo)
    const modeInit = {
      logger,
      repo: this.config.repo,
      bootstrap: this.config.bootstrap,
      directory: this.config.directory,
      modes: [...this.config.modes],
      uploadRate: this.config.uploadRate,
      faultCorrupt: this.config.faultCorrupt,
      role: this.config.role,
      interests: this.config.interests
    }
    for (const name of this.config.modes) this.modes.push(await (await loadModeFactory(name))(modeInit))
    await this.store.start()
    const modeServices = Object.assign({}, ...this.modes.map(m => m.services?.() ?? {}))
    this.node = await createNode({
      ...this.extras.node,
      ...(this.config.limitLoopback ? { allowLoopback: false } : {}),
      privateKey,
      listen: this.config.listen,
      // the lab's embedded daemons and the tests may bring a LAN of their own (extras.node.mdns)
      mdns: this.extras.node?.mdns ?? this.config.mdns,
      services: {
        ...modeServices,
        transfer: transfer({ store: this.store, stats: this.counters, logger, faultCorruptRate: this.config.faultCorrupt, uploadRate: this.config.uploadRate })
      }
    }) as Node
    this.watchLan()
    for (const mode of this.modes) {
      await mode.start({
        node: this.node,
        store: this.store,
        transfer: this.node.services.transfer,
        stats: this.counters,
        logger,
        repo: this.config.repo,
        bootstrap: this.config.bootstrap,
        directory: this.config.directory,
        modes: [...this.config.modes]
      })
    }
    if (this.extras.api !== false) this.api = await startApiServer({ api: this, host: this.config.api.host, port: this.config.api.port, repo: this.config.repo, logger, dashboard: createDashboard() })
    const id = await this.id()
    this.log.info({ peerId: id.peerId, addrs: id.addrs, api: this.api?.url, repo: this.config.repo, modes: id.modes, mdns: this.lan !== undefined }, 'daemon started')
    if (this.config.faultCorrupt > 0) this.log.warn({ rate: this.config.faultCorrupt }, 'fault injection: corrupting served chunks on purpose')
    for (const addr of this.config.bootstrap) {
      this.connect(addr).catch(err => { this.log.warn({ addr, err: err.message }, 'bootstrap dial failed') })
    }
  }

  /** LAN discovery (`--mdns`), when it runs. */
  private get lan (): LanDiscovery | undefined {
    return (this.node?.services as { lan?: LanDiscovery } | undefined)?.lan
  }

  /** `--mdns`: the log says which LAN peers were found and connected (a failed dial is retried at the next answer). */
  private watchLan (): void {
    this.lan?.addEventListener('found', (evt) => {
      const { peerId, addrs } = (evt as LanDiscoveryEvents['found']).detail
      this.log.info({ peerId, addrs }, 'LAN peer found (mDNS)')
    })
    this.lan?.addEventListener('dial', (evt) => {
      const { peerId, ok, error } = (evt as LanDiscoveryEvents['dial']).detail
      if (ok) this.log.info({ peerId }, 'connected to a LAN peer')
      else this.log.debug({ peerId, err: error }, 'dial to a LAN peer failed')
    })
  }

  private get libp2p (): Node {
    if (this.node === undefined) throw new Error('daemon not started')
    return this.node
  }

  async id (): Promise<IdInfo> {
    const node = this.libp2p
    const info: IdInfo = { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), modes: [...this.config.modes] }
    for (const mode of this.modes) {
      const extra = mode.info?.()
      if (extra !== undefined) (info as unknown as Record<string, unknown>)[mode.name] = extra
    }
    return info
  }

  async share (path: string): Promise<SharedFileInfo | { shared: SharedFileInfo[] }> {
    let info
    try {
      info = await stat(path)
    } catch {
      throw new InvalidPathError(`cannot share ${path}: no such file or folder`)
    }
    const result = info.isDirectory() ? { shared: await this.store.shareFolder(path) } : await this.store.share(path)
    this.sharesChanged()
    return result
  }

  private sharesChanged (): void {
    for (const mode of this.modes) {
      try {
        mode.sharesChanged?.()
      } catch (err: any) {
        this.log.warn({ mode: mode.name, err: err.message }, 'mode failed to take the new shares')
      }
    }
  }

  async ls (): Promise<{ files: SharedFileInfo[] }> {
    return { files: this.store.list() }
  }

  async connect (addr: string): Promise<{ peerId: string }> {
    let ma
    try {
      ma = multiaddr(addr)
    } catch (err: any) {
      throw new InvalidOptionError(`invalid multiaddr ${addr}: ${err.message}`)
    }
    const conn = await this.libp2p.dial(ma, { signal: AbortSignal.timeout(DEFAULTS.dialTimeoutMs) })
    return { peerId: conn.remotePeer.toString() }
  }

  async get (req: GetRequest, onProgress: (p: GetProgress) => void, signal: AbortSignal): Promise<GetResult> {
    this.activeDownloads++
    const entry = this.downloadLog.start(req.cid)
    try {
      const result = await this.download(req, (p) => { entry.progress(p); onProgress(p) }, signal)
      entry.done(result)
      this.counters.inc('downloads.completed')
      return result
    } catch (err) {
      entry.failed(err)
      this.counters.inc('downloads.failed')
      throw err
    } finally {
      this.activeDownloads--
    }
  }

  /** Running and recent downloads, for the dashboard. */
  async downloads (): Promise<{ downloads: DownloadInfo[] }> {
    return { downloads: this.downloadLog.list() }
  }

  /** The overlay as this node knows it, for the dashboard's graph. */
  async overlay (): Promise<OverlayInfo> {
    const node = this.libp2p
    return buildOverlay({ self: node.peerId.toString(), modes: this.modes, connected: node.getPeers().map(String) })
  }

  private async download (req: GetRequest, onProgress: (p: GetProgress) => void, signal: AbortSignal): Promise<GetResult> {
    const cid = parseCid(req.cid)
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(req.timeoutMs ?? DEFAULTS.getTimeoutMs)])
    if (req.out !== undefined) {
      const local = await this.placeLocally(cid.toString(), req, deadline)
      if (local !== undefined) return local
    }
    const resolveDest = async (manifest: Manifest): Promise<Destination> => {
      const dest = await this.destination(req, manifest)
      await checkDestination(dest, manifest, deadline)
      return dest
    }
    // the supernode generation transfers in-band by default: the path caches
    const byDefault = req.inBand !== true && (req.from === undefined || req.from.length === 0) && this.modes.some(m => m.inBandDefault === true)
    if (req.inBand === true || byDefault) {
      const relay = this.modes.find(m => m.inBandDefault === true) ?? this.modes.find(m => m.getInBand !== undefined)
      if (relay?.getInBand === undefined) throw new InvalidOptionError('--in-band needs a flooding or supernode mode (sedai daemon --mode flood)')
      try {
        const result = await relay.getInBand(cid.toString(), {
          signal: deadline,
          onProgress: this.countInBand(onProgress),
          resolveDest
        })
        if (result.fetched > 0) this.sharesChanged()
        const { name: _name, ...rest } = result
        return rest
      } catch (err: any) {
        // a daemon that also runs a mode with direct sources (e.g. supernode,dht) tries those next
        const others = this.modes.some(m => m !== relay && m.findProviders !== undefined)
        if (!byDefault || !others || deadline.aborted || !(err instanceof NotFoundError || err instanceof DownloadFailedError)) throw err
        this.log.info({ cid: cid.toString(), err: err.message }, 'in-band get failed; trying direct sources')
      }
    }
    let sources: Source[]
    try {
      sources = req.from !== undefined && req.from.length > 0 ? req.from.map(a => multiaddr(a)) : await this.findSources(cid.toString(), deadline)
    } catch (err: any) {
      if (err instanceof InvalidOptionError || req.from === undefined) throw err
      throw new InvalidOptionError(`invalid --from address: ${err.message}`)
    }
    const result = await this.libp2p.services.transfer.download({
      cid,
      sources,
      signal: deadline,
      onProgress,
      resolveDest
    })
    if (result.badPeers.length > 0) this.log.warn({ cid: result.cid, badPeers: result.badPeers }, 'peers sent corrupted chunks')
    if (result.fetched > 0) this.sharesChanged()
    const { name: _name, ...rest } = result
    return rest
  }

  /**
   * Counts an in-band download's verified chunks and bytes (the transfer
   * service counts direct ones): it reports progress once per chunk written.
   */
  private countInBand (onProgress: (p: GetProgress) => void): (p: GetProgress) => void {
    let counted = 0
    return (p) => {
      if (p.fetched > counted) {
        this.counters.inc('transfer.inBandChunksFetched')
        this.counters.inc('transfer.inBandBytesFetched', p.fetched - counted)
        counted = p.fetched
      }
      onProgress(p)
    }
  }

  /**
   * Sources for a `get` without --from: what the modes find (all of them, in
   * parallel: more sources make a faster swarm), else the connected peers.
   */
  private async findSources (cid: string, signal: AbortSignal): Promise<Source[]> {
    const finders = this.modes.filter(m => m.findProviders !== undefined)
    const found = await Promise.allSettled(finders.map(async m => await (m.findProviders as NonNullable<Mode['findProviders']>)(cid, { signal })))
    const sources: Source[] = []
    const seen = new Set<string>()
    for (const [i, r] of found.entries()) {
      if (r.status === 'rejected') {
        this.log.debug({ mode: finders[i].name, cid, err: r.reason?.message }, 'finding providers failed')
        continue
      }
      for (const s of r.value) {
        const key = s.toString()
        if (!seen.has(key)) { seen.add(key); sources.push(s) }
      }
    }
    if (sources.length > 0) return sources
    return this.libp2p.getPeers()
  }

  /**
   * `get -o PATH` of a file this node already holds: a verified copy at PATH,
   * nothing fetched (as kubo's and curl's -o). Of a pending download: the
   * finished file goes to PATH, the latest get's choice. Undefined when the
   * file still has to come from the network.
   */
  private async placeLocally (cid: string, req: GetRequest, signal: AbortSignal): Promise<GetResult | undefined> {
    const held = this.store.getManifest(cid)
    if (held !== undefined) {
      const file = await this.store.copyTo(cid, await this.destination(req, held.manifest), { signal })
      if (file !== undefined) {
        this.sharesChanged()
        return { cid, path: file.path, size: file.size, sources: [], fetched: 0, resumed: file.size, badPeers: [] }
      }
    }
    const pending = this.store.getDownload(cid)
    if (pending !== undefined) {
      const dest = await this.destination(req, pending.manifest)
      await checkDestination(dest, pending.manifest, signal)
      this.store.setDestination(cid, dest)
    }
    return undefined
  }

  /** `out` may be a folder (the manifest's name is appended) or a file path; default the download folder. */
  private async destination (req: GetRequest, manifest: Manifest): Promise<Destination> {
    const replace = req.force === true
    const dir = req.out ?? join(this.config.repo, 'files')
    const info = await stat(dir).catch(() => undefined)
    if (req.out === undefined || info?.isDirectory() === true) {
      await mkdir(dir, { recursive: true })
      return { path: join(dir, manifest.name), replace }
    }
    return { path: req.out, replace }
  }

  /**
   * Asks the search modes in --mode order; the first that answers with results
   * wins, and a mode that cannot search now (its server is down) is skipped:
   * WinMX's hybrid with `--mode directory,flood`.
   */
  async search (req: SearchRequest, onResult?: (r: SearchResult) => void): Promise<SearchResponse> {
    const searchers = this.modes.filter(m => m.search !== undefined)
    if (searchers.length === 0) {
      return { results: [], note: 'no search mode is running: start the daemon with --mode directory, flood, supernode or dht' }
    }
    const timeoutMs = req.timeoutMs ?? DEFAULTS.searchTimeoutMs
    const failures: string[] = []
    for (const mode of searchers) {
      const signal = AbortSignal.timeout(timeoutMs)
      const started = performance.now()
      try {
        const hits = await (mode.search as NonNullable<Mode['search']>)(req.query, {
          timeoutMs,
          signal,
          ttl: req.ttl,
          onHit: onResult === undefined ? undefined : (hit) => { onResult(toResult(hit)) }
        })
        this.counters.observe('search.seconds', (performance.now() - started) / 1000, { mode: mode.name, outcome: hits.length > 0 ? 'hits' : 'empty' })
        if (hits.length > 0 || mode === searchers[searchers.length - 1]) {
          const note = failures.length > 0 ? `answered by ${mode.name}; ${failures.join('; ')}` : undefined
          return { results: mergeHits(hits), ...(note !== undefined ? { note } : {}) }
        }
      } catch (err: any) {
        this.counters.observe('search.seconds', (performance.now() - started) / 1000, { mode: mode.name, outcome: 'error' })
        failures.push(`${mode.name} failed: ${err.message}`)
        this.log.info({ mode: mode.name, err: err.message }, 'search mode failed; trying the next')
      }
    }
    throw new SearchFailedError(`search failed: ${failures.join('; ')}`)
  }

  async peers (): Promise<{ peers: PeerInfo[] }> {
    const node = this.libp2p
    const peers: PeerInfo[] = []
    for (const peerId of node.getPeers()) {
      const addrs = node.getConnections(peerId).map(c => c.remoteAddr.toString())
      let modes: string[] = []
      try {
        const peer = await node.peerStore.get(peerId)
        modes = peer.protocols.filter(p => p.startsWith('/sedai/') && p !== TRANSFER_PROTOCOL).map(p => p.split('/')[2])
      } catch {}
      const info: PeerInfo = { peerId: peerId.toString(), addrs, modes }
      for (const mode of this.modes) {
        const extra = mode.peerInfo?.(info.peerId)
        if (extra !== undefined) (info as unknown as Record<string, unknown>)[mode.name] = extra
      }
      peers.push(info)
    }
    return { peers }
  }

  async stats (): Promise<Record<string, unknown>> {
    const node = this.libp2p
    const modes: Record<string, unknown> = {}
    for (const mode of this.modes) {
      const extra = mode.stats?.()
      if (extra !== undefined) modes[mode.name] = extra
    }
    const counters = this.counters.toJSON()
    // a mode's state and its counters (e.g. 'flood.queriesForwarded') share the mode's key
    for (const [name, extra] of Object.entries(modes)) {
      const own = counters[name]
      if (typeof own === 'object' && own !== null && typeof extra === 'object' && extra !== null) counters[name] = { ...extra, ...own }
    }
    return {
      ...modes,
      peerId: node.peerId.toString(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      connections: node.getConnections().length,
      // open streams over all connections: a peer opening thousands must stay within the muxer's and protocols' caps
      streams: node.getConnections().reduce((n, c) => n + c.streams.length, 0),
      shared: this.store.list().length,
      partialDownloads: this.store.listDownloads().length,
      activeDownloads: this.activeDownloads,
      ...(this.lan !== undefined ? { mdns: { ...this.lan.counts } } : {}),
      // the whole process's (a lab worker hosts many daemons in one)
      process: processStats(),
      ...counters
    }
  }

  async metrics (): Promise<MetricsText> {
    if (this.exporter === undefined) throw new NotFoundError('this daemon has no metrics (it runs without the control API)')
    return await this.exporter.render()
  }

  async stop (): Promise<void> {
    // answer the request first; shut down right after
    setImmediate(() => { this.shutdown('api').catch(() => {}) })
  }

  async shutdown (reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info({ reason }, 'daemon stopping')
      try {
        await this.api?.close()
        this.exporter?.close()
        for (const mode of [...this.modes].reverse()) {
          await mode.stop().catch((err: any) => { this.log.warn({ mode: mode.name, err: err.message }, 'mode failed to stop') })
        }
        await this.node?.stop()
        await this.store.stop()
      } finally {
        this.log.info('daemon stopped')
        this.resolveStopped()
      }
    })()
    return await this.stopping
  }

  async whenStopped (): Promise<void> {
    await this.stopped
  }
}

function toResult (hit: SearchHit): SearchResult {
  return { cid: hit.cid, name: hit.name, size: hit.size, providers: hit.providers.map(p => p.peerId) }
}

/** One result per CID; providers merged. */
function mergeHits (hits: SearchHit[]): SearchResult[] {
  const byCid = new Map<string, SearchResult>()
  for (const hit of hits) {
    const r = byCid.get(hit.cid)
    if (r === undefined) {
      byCid.set(hit.cid, toResult(hit))
    } else {
      for (const p of hit.providers) if (!r.providers.includes(p.peerId)) r.providers.push(p.peerId)
    }
  }
  return [...byCid.values()]
}

/** Runs a daemon until SIGINT/SIGTERM or `sedai stop`; resolves once it has shut down. */
export async function runDaemon (config: DaemonConfig): Promise<void> {
  const logger = createLogger()
  const daemon = new Daemon(config, logger)
  const onSignal = (signal: string): void => { daemon.shutdown(signal).catch(() => {}) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await daemon.start(logger)
  } catch (err) {
    await daemon.shutdown('start failed').catch(() => {})
    throw err
  }
  await daemon.whenStopped()
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  logger.flush()
}
