import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import {
  ContentStore, DEFAULTS, InvalidOptionError, InvalidPathError, Stats, TRANSFER_PROTOCOL,
  createLogger, createNode, loadOrCreateIdentity, parseCid, transfer
} from '@sedai/core'
import { startApiServer } from './api-server.ts'
import type { DaemonOptions } from './args.ts'
import type { DaemonApi, GetProgress, GetRequest, GetResult, IdInfo, PeerInfo, SearchRequest, SearchResponse, SharedFileInfo } from './daemon-api.ts'
import type { Logger, Manifest, SedaiLibp2p, Source, TransferService } from '@sedai/core'

/** The daemon's options, as `sedai daemon` parses them (args.ts). */
export type DaemonConfig = Omit<DaemonOptions, 'json'>

/** Modes whose services exist in this build; the rest come with their packages. */
const AVAILABLE_MODES: readonly string[] = []

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
  private readonly startedAt = Date.now()
  private node?: Node
  private api?: { url: string, token: string, close: () => Promise<void> }
  private stopping?: Promise<void>
  private readonly stopped: Promise<void>
  private resolveStopped!: () => void

  constructor (config: DaemonConfig, logger: Logger) {
    this.config = config
    this.log = logger.child({ component: 'daemon' })
    this.store = new ContentStore({ repo: config.repo, logger })
    this.stopped = new Promise(resolve => { this.resolveStopped = resolve })
    for (const mode of config.modes) {
      if (!AVAILABLE_MODES.includes(mode)) {
        throw new InvalidOptionError(`mode '${mode}' is not available in this build yet; the daemon runs the transfer protocol only (no --mode)`)
      }
    }
  }

  async start (logger: Logger): Promise<void> {
    await mkdir(this.config.repo, { recursive: true, mode: 0o700 })
    const privateKey = await loadOrCreateIdentity(this.config.repo)
    await this.store.start()
    this.node = await createNode({
      privateKey,
      listen: this.config.listen,
      services: {
        transfer: transfer({ store: this.store, stats: this.counters, logger, faultCorruptRate: this.config.faultCorrupt, uploadRate: this.config.uploadRate })
      }
    }) as Node
    this.api = await startApiServer({ api: this, host: this.config.api.host, port: this.config.api.port, repo: this.config.repo, logger })
    const id = await this.id()
    this.log.info({ peerId: id.peerId, addrs: id.addrs, api: this.api.url, repo: this.config.repo, modes: id.modes }, 'daemon started')
    if (this.config.faultCorrupt > 0) this.log.warn({ rate: this.config.faultCorrupt }, 'fault injection: corrupting served chunks on purpose')
    for (const addr of this.config.bootstrap) {
      this.connect(addr).catch(err => { this.log.warn({ addr, err: err.message }, 'bootstrap dial failed') })
    }
  }

  private get libp2p (): Node {
    if (this.node === undefined) throw new Error('daemon not started')
    return this.node
  }

  async id (): Promise<IdInfo> {
    const node = this.libp2p
    return { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String), modes: [...this.config.modes] }
  }

  async share (path: string): Promise<SharedFileInfo | { shared: SharedFileInfo[] }> {
    let info
    try {
      info = await stat(path)
    } catch {
      throw new InvalidPathError(`cannot share ${path}: no such file or folder`)
    }
    if (info.isDirectory()) return { shared: await this.store.shareFolder(path) }
    return await this.store.share(path)
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
    const cid = parseCid(req.cid)
    let sources: Source[]
    try {
      sources = req.from !== undefined && req.from.length > 0 ? req.from.map(a => multiaddr(a)) : this.libp2p.getPeers()
    } catch (err: any) {
      throw new InvalidOptionError(`invalid --from address: ${err.message}`)
    }
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(req.timeoutMs ?? DEFAULTS.getTimeoutMs)])
    const result = await this.libp2p.services.transfer.download({
      cid,
      sources,
      signal: deadline,
      onProgress,
      resolveDest: async (manifest: Manifest) => await this.resolveDest(req.out, manifest)
    })
    if (result.badPeers.length > 0) this.log.warn({ cid: result.cid, badPeers: result.badPeers }, 'peers sent corrupted chunks')
    const { name: _name, ...rest } = result
    return rest
  }

  /** `out` may be a folder (the manifest's name is appended) or a file path. */
  private async resolveDest (out: string | undefined, manifest: Manifest): Promise<string> {
    const dir = out ?? join(this.config.repo, 'files')
    const info = await stat(dir).catch(() => undefined)
    if (out === undefined || info?.isDirectory() === true) {
      await mkdir(dir, { recursive: true })
      return join(dir, manifest.name)
    }
    return out
  }

  async search (_req: SearchRequest): Promise<SearchResponse> {
    return { results: [], note: 'no search mode is running: start the daemon with a search mode (directory, flood, supernode or dht) once they are available' }
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
      peers.push({ peerId: peerId.toString(), addrs, modes })
    }
    return { peers }
  }

  async stats (): Promise<Record<string, unknown>> {
    const node = this.libp2p
    return {
      peerId: node.peerId.toString(),
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      connections: node.getConnections().length,
      shared: this.store.list().length,
      partialDownloads: this.store.listDownloads().length,
      ...this.counters.toJSON()
    }
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
