import { CID } from 'multiformats/cid'
import { DEFAULTS } from '../config.ts'
import { FramedStream } from '../framing.ts'
import { RateLimiter } from '../rate.ts'
import { ContentChangedError, NotFoundError } from '../errors.ts'
import { chunkCount } from '../store/manifest.ts'
import { MAX_REQUEST_FRAME_BYTES, MAX_WINDOW, SERVER_READ_AHEAD, TRANSFER_PROTOCOL } from './constants.ts'
import { download } from './download.ts'
import { decodeRequest, encodeChunkReply, encodeOpenReply, MessageType, Status } from './messages.ts'
import type { DownloadInit, DownloadResult } from './download.ts'
import type { Logger } from '../logger.ts'
import type { Stats } from '../stats.ts'
import type { ContentStore } from '../store/content-store.ts'
import type { Manifest } from '../store/manifest.ts'
import type { Connection, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export interface TransferComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
}

export interface TransferInit {
  store: ContentStore
  stats: Stats
  logger: Logger
  windowPerPeer?: number
  streamIdleTimeoutMs?: number
  manifestTimeoutMs?: number
  chunkTimeoutMs?: number
  /** bad chunks after which a download drops a source; default DEFAULTS.maxBadChunksPerPeer */
  maxBadChunksPerPeer?: number
  maxInboundStreams?: number
  maxOutboundStreams?: number
  /** upload cap in bytes per second over all streams; 0 = none */
  uploadRate?: number
  /**
   * Fault injection for tests and labs: the fraction (0..1) of served chunks
   * in which one byte is flipped, i.e. a lying seeder. 0 in normal use.
   */
  faultCorruptRate?: number
}

export const MESSAGE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(MessageType).map(([k, v]) => [v, k]))

/**
 * /sedai/transfer/1.0.0: serves the manifests and chunks of shared files and
 * runs multi-source downloads. One stream per (download, source): OPEN binds
 * it to a CID, then the requester keeps a window of CHUNK_REQUESTs in flight
 * and the server answers them in order.
 */
export class TransferService implements Startable {
  readonly protocol = TRANSFER_PROTOCOL
  private readonly components: TransferComponents
  private readonly store: ContentStore
  private readonly stats: Stats
  private readonly log: Logger
  private readonly idleTimeoutMs: number
  private readonly maxInboundStreams: number
  private readonly maxOutboundStreams: number
  private readonly faultCorruptRate: number
  private readonly uploadLimiter?: RateLimiter
  private readonly downloadDefaults: Pick<DownloadInit, 'windowPerPeer' | 'manifestTimeoutMs' | 'chunkTimeoutMs' | 'maxBadChunksPerPeer'>
  private readonly active = new Map<string, Promise<DownloadResult>>()
  private started = false

  constructor (components: TransferComponents, init: TransferInit) {
    this.components = components
    this.store = init.store
    this.stats = init.stats
    this.log = init.logger.child({ component: 'transfer' })
    this.idleTimeoutMs = init.streamIdleTimeoutMs ?? DEFAULTS.streamIdleTimeoutMs
    this.maxInboundStreams = init.maxInboundStreams ?? DEFAULTS.maxInboundTransferStreams
    this.maxOutboundStreams = init.maxOutboundStreams ?? DEFAULTS.maxOutboundTransferStreams
    this.faultCorruptRate = init.faultCorruptRate ?? 0
    const uploadRate = init.uploadRate ?? DEFAULTS.uploadRate
    if (uploadRate > 0) this.uploadLimiter = new RateLimiter(uploadRate)
    this.downloadDefaults = {
      windowPerPeer: Math.min(init.windowPerPeer ?? DEFAULTS.windowPerPeer, MAX_WINDOW),
      manifestTimeoutMs: init.manifestTimeoutMs ?? DEFAULTS.manifestTimeoutMs,
      chunkTimeoutMs: init.chunkTimeoutMs ?? DEFAULTS.chunkTimeoutMs,
      // at least 1: 0 would drop a source before it sent anything bad
      maxBadChunksPerPeer: Math.max(1, Math.floor(init.maxBadChunksPerPeer ?? DEFAULTS.maxBadChunksPerPeer))
    }
  }

  readonly [Symbol.toStringTag] = '@sedai/transfer'

  async start (): Promise<void> {
    if (this.started) return
    await this.components.registrar.handle(this.protocol, (stream: Stream, connection: Connection) => {
      this.serve(stream, connection).catch(err => {
        this.log.debug({ err, peer: connection.remotePeer.toString() }, 'transfer stream failed')
      })
    }, {
      maxInboundStreams: this.maxInboundStreams,
      maxOutboundStreams: this.maxOutboundStreams
    })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    await this.components.registrar.unhandle(this.protocol)
    this.started = false
  }

  isStarted (): boolean {
    return this.started
  }

  /**
   * Downloads `cid` from `sources` (see download.ts). Concurrent calls for
   * one CID share a single download.
   */
  async download (init: Omit<DownloadInit, 'connectionManager' | 'store' | 'stats' | 'logger' | keyof TransferService['downloadDefaults']> & Partial<DownloadInit>): Promise<DownloadResult> {
    const key = init.cid.toString()
    const running = this.active.get(key)
    if (running !== undefined) return await running
    const job = download({
      ...this.downloadDefaults,
      ...init,
      connectionManager: this.components.connectionManager,
      store: this.store,
      stats: this.stats,
      logger: this.log
    })
    this.active.set(key, job)
    try {
      return await job
    } finally {
      this.active.delete(key)
    }
  }

  private count (direction: 'in' | 'out', type: number, bytes: number): void {
    this.stats.message('transfer', direction, MESSAGE_NAMES[type] ?? 'UNKNOWN', bytes)
  }

  private async reply (framed: FramedStream, type: number, parts: Uint8Array[]): Promise<void> {
    let bytes = 0
    for (const p of parts) bytes += p.byteLength
    this.count('out', type, bytes)
    await framed.write(...parts)
  }

  /** Serves one inbound stream: OPEN, then chunk requests answered in order. */
  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_REQUEST_FRAME_BYTES, idleTimeoutMs: this.idleTimeoutMs })
    let open
    try {
      const first = await framed.read()
      if (first === undefined) return await framed.close()
      open = decodeRequest(first)
      this.count('in', open.type, first.byteLength)
      if (open.type !== MessageType.OPEN) throw new Error('the first message must be OPEN')
    } catch (err: any) {
      // a malformed or unexpected first message: say why, then close
      await this.reply(framed, MessageType.OPEN_REPLY, encodeOpenReply({ status: Status.ERROR, error: err.message }))
      return await framed.close()
    }

    let cid: string
    try {
      cid = CID.decode(open.cid).toString()
    } catch {
      await this.reply(framed, MessageType.OPEN_REPLY, encodeOpenReply({ status: Status.ERROR, error: 'invalid cid' }))
      return await framed.close()
    }
    const entry = this.store.has(cid) ? this.store.getManifest(cid) : undefined
    if (entry === undefined) {
      await this.reply(framed, MessageType.OPEN_REPLY, encodeOpenReply({ status: Status.NOT_FOUND, error: 'not shared here' }))
      return await framed.close()
    }
    await this.reply(framed, MessageType.OPEN_REPLY, encodeOpenReply({ status: Status.OK, manifest: open.wantManifest ? entry.bytes : undefined }))
    this.log.debug({ peer, cid }, 'serving')
    try {
      await this.serveChunks(framed, cid, entry.manifest, peer)
    } catch (err: any) {
      framed.abort(err)
      throw err
    }
  }

  /**
   * Reads requests and answers them in order, with up to SERVER_READ_AHEAD
   * chunk reads in flight so disk, hashing and the network overlap.
   */
  private async serveChunks (framed: FramedStream, cid: string, manifest: Manifest, peer: string): Promise<void> {
    type Reply = { type: number, parts: Uint8Array[], last: boolean }
    const replies: Array<Promise<Reply>> = []
    // reader and writer never wait at the same time (the writer waits only on
    // an empty queue, the reader only on a full one), so one waker serves both
    let wake: (() => void) | undefined
    let readerDone = false
    let writerDone = false
    const notify = (): void => { wake?.(); wake = undefined }
    const waitFor = async (): Promise<void> => { await new Promise<void>(resolve => { wake = resolve }) }

    const writer = (async () => {
      try {
        while (true) {
          const next = replies.shift()
          if (next === undefined) {
            if (readerDone) return
            await waitFor()
            continue
          }
          notify()
          const { type, parts, last } = await next
          if (this.uploadLimiter !== undefined) await this.uploadLimiter.take(parts.reduce((n, p) => n + p.byteLength, 0))
          await this.reply(framed, type, parts)
          if (last) return
        }
      } finally {
        writerDone = true
        notify()
      }
    })()
    writer.catch(() => {}) // its failure is seen by `await writer` or by the reader's own error

    try {
      while (!writerDone) {
        while (replies.length >= SERVER_READ_AHEAD && !writerDone) await waitFor()
        if (writerDone) break
        const bytes = await framed.read()
        if (bytes === undefined) break
        let request
        try {
          request = decodeRequest(bytes)
          this.count('in', request.type, bytes.byteLength)
          if (request.type !== MessageType.CHUNK_REQUEST) throw new Error('only CHUNK_REQUEST may follow OPEN')
        } catch (err: any) {
          replies.push(Promise.resolve({ type: MessageType.CHUNK_REPLY, parts: encodeChunkReply({ status: Status.ERROR, index: 0, error: err.message }), last: true }))
          break
        }
        replies.push(this.chunkReply(cid, manifest, request.index, peer))
        notify()
      }
    } finally {
      readerDone = true
      notify()
    }
    await writer
    await framed.close()
  }

  private async chunkReply (cid: string, manifest: Manifest, index: number, peer: string): Promise<{ type: number, parts: Uint8Array[], last: boolean }> {
    const type = MessageType.CHUNK_REPLY
    if (index >= chunkCount(manifest)) {
      return { type, parts: encodeChunkReply({ status: Status.ERROR, index, error: `chunk ${index} out of range` }), last: false }
    }
    try {
      let data = await this.store.readChunk(cid, index)
      if (this.faultCorruptRate > 0 && Math.random() < this.faultCorruptRate) {
        data = Uint8Array.from(data)
        data[data.byteLength >> 1] ^= 0xff
        this.stats.inc('transfer.chunksCorruptedOnPurpose')
      }
      this.stats.inc('transfer.chunksServed')
      this.stats.inc('transfer.bytesServed', data.byteLength)
      return { type, parts: encodeChunkReply({ status: Status.OK, index, data }), last: false }
    } catch (err: any) {
      if (err instanceof ContentChangedError || err instanceof NotFoundError) {
        this.log.warn({ cid, peer, err: err.message }, 'shared file no longer matches its manifest; stopped serving it')
        return { type, parts: encodeChunkReply({ status: Status.NOT_FOUND, index, error: err.message }), last: true }
      }
      this.log.error({ cid, peer, err }, 'reading a chunk failed')
      return { type, parts: encodeChunkReply({ status: Status.ERROR, index, error: 'read failed' }), last: true }
    }
  }
}

export function transfer (init: TransferInit): (components: TransferComponents) => TransferService {
  return (components) => new TransferService(components, init)
}
