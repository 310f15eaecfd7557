import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import { DownloadFailedError, HashMismatchError, InvalidManifestError, InvalidMessageError, NotFoundError, RemoteError, TimeoutError, TruncatedFrameError } from '../errors.ts'
import { FramedStream } from '../framing.ts'
import { sameBytes } from '../util.ts'
import { Bitfield } from '../store/bitfield.ts'
import { chunkCount, chunkHash, chunkLength, parseCid, sha256, verifyManifest } from '../store/manifest.ts'
import { MAX_REPLY_FRAME_BYTES, TRANSFER_PROTOCOL } from './constants.ts'
import { decodeReply, encodeChunkRequest, encodeOpen, MessageType, Status } from './messages.ts'
import type { Logger } from '../logger.ts'
import type { Stats } from '../stats.ts'
import type { ContentStore } from '../store/content-store.ts'
import type { Manifest } from '../store/manifest.ts'
import type { Destination } from '../store/place.ts'
import type { Connection, PeerId } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export type Source = PeerId | Multiaddr

export interface DownloadProgress {
  cid: string
  name: string
  size: number
  /** verified bytes on disk */
  have: number
  /** bytes fetched over the network in this run */
  fetched: number
  /** peers currently delivering chunks */
  sources: string[]
}

export interface DownloadResult {
  cid: string
  name: string
  path: string
  size: number
  /** peers that delivered at least one verified chunk */
  sources: string[]
  /** verified chunk bytes fetched in this run */
  fetched: number
  /** bytes already verified on disk when this run began */
  resumed: number
  /** peers dropped for sending `maxBadChunksPerPeer` chunks that failed verification, or for breaking the protocol */
  badPeers: string[]
}

export interface DownloadInit {
  cid: string | CID
  sources: Source[]
  /** where the file goes, once its manifest (and so its name) is known */
  resolveDest: (manifest: Manifest) => Promise<string | Destination> | string | Destination
  signal?: AbortSignal
  onProgress?: (p: DownloadProgress) => void
  connectionManager: ConnectionManager
  store: ContentStore
  stats: Stats
  logger: Logger
  windowPerPeer: number
  manifestTimeoutMs: number
  chunkTimeoutMs: number
  /** a source is dropped on its this-many-th chunk that fails verification (>= 1) */
  maxBadChunksPerPeer: number
}

/** A requester of one chunk: the session that asked for it. */
interface Session { peer: string }

/**
 * Hands out the chunks still missing. Chunks go out lowest index first, each
 * to one session; once none is left unassigned, an idle session may ask for a
 * chunk another session already has in flight (BitTorrent's end game), so a
 * slow or dying source cannot hold the last chunks hostage.
 */
export class ChunkPicker {
  readonly have: Bitfield
  private readonly queue: number[] = []
  private readonly retry: number[] = []
  private next = 0
  private readonly inflight = new Map<number, Set<Session>>()
  private waiters: Array<() => void> = []
  private readonly maxRequesters: number

  constructor (have: Bitfield, maxRequesters = 2) {
    this.have = have
    this.maxRequesters = maxRequesters
    for (let i = 0; i < have.length; i++) if (!have.get(i)) this.queue.push(i)
  }

  get complete (): boolean {
    return this.have.isComplete()
  }

  take (session: Session): number | undefined {
    while (this.retry.length > 0) {
      const i = this.retry.pop() as number
      if (!this.have.get(i) && !this.inflight.has(i)) return this.assign(i, session)
    }
    while (this.next < this.queue.length) {
      const i = this.queue[this.next++]
      if (!this.have.get(i) && !this.inflight.has(i)) return this.assign(i, session)
    }
    for (const [i, requesters] of this.inflight) {
      if (requesters.size < this.maxRequesters && !requesters.has(session)) {
        requesters.add(session)
        return i
      }
    }
    return undefined
  }

  private assign (i: number, session: Session): number {
    this.inflight.set(i, new Set([session]))
    return i
  }

  /** The session will not deliver `i`: it goes back to the front of the line. */
  release (i: number, session: Session): void {
    const requesters = this.inflight.get(i)
    if (requesters === undefined) return
    requesters.delete(session)
    if (requesters.size === 0) {
      this.inflight.delete(i)
      if (!this.have.get(i)) this.retry.push(i)
    }
    this.wake()
  }

  /** `i` verified and written; returns false if another session got there first. */
  done (i: number): boolean {
    this.inflight.delete(i)
    if (this.have.get(i)) return false
    this.have.set(i)
    this.wake()
    return true
  }

  /** Resolves when work may have become available (or the download completed). */
  async changed (signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    await new Promise<void>(resolve => {
      const done = (): void => { signal.removeEventListener('abort', done); resolve() }
      this.waiters.push(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

/**
 * Test hook, for crash tests only: with SEDAI_FAULT_KILL_MID_WRITE=N the
 * process writes the first half of its N-th chunk and SIGKILLs itself, a
 * crash in the middle of a write. Read once; unset (0) in normal use.
 */
const KILL_MID_WRITE = Number(process.env.SEDAI_FAULT_KILL_MID_WRITE ?? 0)
let chunkWrites = 0

async function writeChunk (fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  if (KILL_MID_WRITE > 0 && ++chunkWrites === KILL_MID_WRITE) {
    await fh.write(data, 0, data.byteLength >> 1, position)
    process.kill(process.pid, 'SIGKILL')
  }
  await fh.write(data, 0, data.byteLength, position)
}

/** A source broke the request/reply order: it is dropped at once, whatever maxBadChunksPerPeer says. */
class BadPeerError extends InvalidMessageError {
  override name = 'BadPeerError'
}

/**
 * One multi-source download: manifest first (verified against the CID),
 * then one session per source keeping `windowPerPeer` chunk requests in
 * flight. Each chunk is verified against the manifest before it is written
 * to the temporary file; a bad chunk goes back to the pool and counts against
 * the source that sent it (only that one: each chunk comes whole from one
 * source, so the blame is certain), and at `maxBadChunksPerPeer` bad chunks, or
 * at once on a reply out of order, the source is dropped and its chunks go to
 * the others. Each verified chunk is recorded in the store just before it
 * is written (write-ahead), so a crash at any point keeps every chunk whose
 * write completed: the store re-hashes the recorded chunks when it starts,
 * clearing a write cut short. The file is re-verified whole and moved into
 * place only when complete.
 */
export async function download (init: DownloadInit): Promise<DownloadResult> {
  const { store, stats } = init
  const cid = typeof init.cid === 'string' ? parseCid(init.cid) : init.cid
  const key = cid.toString()
  const log = init.logger.child({ cid: key })
  const controller = new AbortController()
  const signal = init.signal === undefined ? controller.signal : AbortSignal.any([init.signal, controller.signal])

  const shared = store.list().find(f => f.cid === key)
  if (shared !== undefined) {
    return { cid: key, name: shared.name, path: shared.path, size: shared.size, sources: [], fetched: 0, resumed: shared.size, badPeers: [] }
  }

  const badPeers = new Set<string>()
  const failures: string[] = []
  // libp2p reuses an open connection, so the manifest phase and the sessions share one per peer
  const connect = async (source: Source): Promise<Connection> => await init.connectionManager.openConnection(source, { signal })
  // two addresses of one peer make one session, not two
  const sessionPeers = new Set<string>()

  let record = store.getDownload(key)
  let resumedChunks = 0
  if (record !== undefined) {
    // the store re-hashed it at start (or this run's own writes are all it holds since)
    const cleared = store.verifiedSinceStart(key) ? 0 : await store.verifyPartial(key)
    record = store.getDownload(key)
    if (record === undefined) throw new NotFoundError(`partial download of ${key} vanished`)
    if (cleared > 0) log.warn({ cleared }, 'partial chunks failed re-verification and will be fetched again')
    resumedChunks = record.have.count()
  } else {
    const { manifest, bytes } = await fetchManifest(init, cid, connect, failures, signal, log)
    const dest = await init.resolveDest(manifest)
    record = store.beginDownload(key, bytes, manifest, dest)
  }
  const manifest = record.manifest
  const picker = new ChunkPicker(record.have)
  // what the store has on record: picker.have plus the chunks being written
  const claimed = new Bitfield(record.have.length, record.have.toBytes())
  const resumed = countBytes(manifest, record.have)
  const progress = { have: resumed, fetched: 0, sources: new Set<string>(), delivered: new Set<string>() }
  const report = (): void => {
    init.onProgress?.({ cid: key, name: manifest.name, size: manifest.size, have: progress.have, fetched: progress.fetched, sources: [...progress.sources] })
  }
  if (resumedChunks > 0) log.info({ chunks: resumedChunks }, 'resuming')

  if (!picker.complete) {
    const fh = await open(record.tmpPath, 'r+')
    try {
      const sessions = init.sources.map(async source => {
        try {
          await runSession(source)
        } catch (err: any) {
          if (!signal.aborted) {
            failures.push(`${String(source)}: ${err.message}`)
            log.debug({ source: String(source), err: err.message }, 'session ended')
          }
        }
      })
      const all = Promise.all(sessions)
      // every session ends by itself when the download completes, when its
      // source fails, or when the caller's signal aborts
      await all
    } finally {
      // every write has settled: drop the claims of writes that failed
      store.saveProgress(key, picker.have)
      await fh.close()
    }

    async function runSession (source: Source): Promise<void> {
      const conn = await connect(source)
      const peer = conn.remotePeer.toString()
      if (sessionPeers.has(peer)) return
      sessionPeers.add(peer)
      const session: Session = { peer }
      const stream = await conn.newStream(TRANSFER_PROTOCOL, { signal })
      const framed = new FramedStream(stream, { maxFrameBytes: MAX_REPLY_FRAME_BYTES, idleTimeoutMs: init.chunkTimeoutMs })
      const inflight: number[] = []
      let badChunks = 0
      // one read is kept pending, even while nothing is in flight, so a reply
      // nobody asked for is seen when it arrives, not mistaken for the next answer
      let reading: Promise<Uint8Array | undefined> | undefined
      const nextFrame = (): Promise<Uint8Array | undefined> => {
        if (reading === undefined) {
          reading = framed.read()
          reading.catch(() => {}) // a read left pending when the session ends fails unobserved
        }
        return reading
      }
      const receive = async (): Promise<ReturnType<typeof decodeReply>> => {
        const bytes = await nextFrame()
        reading = undefined
        if (bytes === undefined) throw new RemoteError('source closed the stream')
        const reply = decodeReply(bytes)
        stats.message('transfer', 'in', reply.type === MessageType.OPEN_REPLY ? 'OPEN_REPLY' : 'CHUNK_REPLY', bytes.byteLength)
        return reply
      }
      const onAbort = (): void => { framed.abort(new TimeoutError('download aborted')) }
      signal.addEventListener('abort', onAbort, { once: true })
      try {
        await send(framed, encodeOpen({ cid: cid.bytes, wantManifest: false }), MessageType.OPEN)
        const open = await receive()
        if (open.type !== MessageType.OPEN_REPLY) throw new BadPeerError('expected OPEN_REPLY')
        if (open.status !== Status.OK) throw new RemoteError(open.status === Status.NOT_FOUND ? 'does not have it' : `error: ${open.error ?? ''}`)

        while (!picker.complete && !signal.aborted) {
          while (inflight.length < init.windowPerPeer) {
            const i = picker.take(session)
            if (i === undefined) break
            inflight.push(i)
            await send(framed, encodeChunkRequest(i), MessageType.CHUNK_REQUEST)
          }
          if (inflight.length === 0) {
            const arrived = nextFrame().then(() => true, () => true)
            if (await Promise.race([picker.changed(signal).then(() => false), arrived])) {
              const reply = await receive() // a closed or failed stream throws here, which is no offence
              throw new BadPeerError(`sent ${reply.type === MessageType.CHUNK_REPLY ? `chunk ${reply.index}` : 'a reply'} with no request in flight`)
            }
            continue
          }
          const reply = await receive()
          const expected = inflight[0]
          if (reply.type !== MessageType.CHUNK_REPLY || reply.index !== expected) {
            throw new BadPeerError(`sent ${reply.type === MessageType.CHUNK_REPLY ? `chunk ${reply.index}` : 'a non-chunk reply'} where chunk ${expected} was due`)
          }
          inflight.shift()
          if (reply.status !== Status.OK) {
            picker.release(expected, session)
            throw new RemoteError(`chunk ${expected}: ${reply.error ?? 'refused'}`)
          }
          const data = reply.data as Uint8Array
          if (data.byteLength !== chunkLength(manifest, expected) || !sameBytes(sha256(data), chunkHash(manifest, expected))) {
            picker.release(expected, session)
            stats.inc('transfer.chunksRejected')
            badChunks++
            if (badChunks >= init.maxBadChunksPerPeer) {
              throw new HashMismatchError(`chunk ${expected} failed verification (${badChunks} bad of at most ${init.maxBadChunksPerPeer})`)
            }
            log.warn({ peer, chunk: expected, badChunks }, 'a chunk failed verification; fetched again')
            continue
          }
          if (picker.have.get(expected)) {
            // another source won the end game race for this chunk
            stats.inc('transfer.bytesWasted', data.byteLength)
            continue
          }
          // write-ahead: a kill from here on leaves a claim that the store's
          // start-up re-verification keeps (write complete) or clears (cut short)
          claimed.set(expected)
          store.saveProgress(key, claimed)
          try {
            await writeChunk(fh, data, expected * manifest.chunkSize)
          } catch (err) {
            // the claim stays: harmless (re-verified at start, dropped at the end of
            // the run), while clearing it could drop an end-game twin's write
            picker.release(expected, session)
            throw err
          }
          if (picker.done(expected)) {
            log.debug({ chunk: expected, peer }, 'chunk kept')
            progress.fetched += data.byteLength
            progress.have += data.byteLength
            progress.delivered.add(peer)
            progress.sources.add(peer)
            stats.inc('transfer.chunksFetched')
            stats.inc('transfer.bytesFetched', data.byteLength)
            report()
          }
        }
      } catch (err: any) {
        // a stream cut inside a frame is a dead connection (a crashed or killed
        // honest peer looks just like it), not a lie
        if (err instanceof HashMismatchError || (err instanceof InvalidMessageError && !(err instanceof TruncatedFrameError))) {
          badPeers.add(peer)
          log.warn({ peer, err: err.message }, err instanceof HashMismatchError ? 'source dropped: its chunks failed verification' : 'source dropped: it broke the protocol')
        }
        framed.abort(err)
        throw err
      } finally {
        signal.removeEventListener('abort', onAbort)
        progress.sources.delete(peer)
        for (const i of inflight) picker.release(i, session)
        if (picker.complete) controller.abort() // wake the sessions still waiting
      }
      await framed.close()
    }

    async function send (framed: FramedStream, parts: Uint8Array[], type: number): Promise<void> {
      let bytes = 0
      for (const p of parts) bytes += p.byteLength
      stats.message('transfer', 'out', type === MessageType.OPEN ? 'OPEN' : 'CHUNK_REQUEST', bytes)
      await framed.write(...parts)
    }
  }

  if (!picker.complete) {
    if (init.signal?.aborted === true) throw new TimeoutError(`download of ${key} stopped before it completed (${picker.have.count()} of ${chunkCount(manifest)} chunks; it resumes on the next get)`)
    const why = failures.length > 0 ? failures.join('; ') : 'no source'
    throw new DownloadFailedError(`download of ${key} incomplete: ${picker.have.count()} of ${chunkCount(manifest)} chunks verified; sources: ${why}${badPeers.size > 0 ? `; bad peers: ${[...badPeers].join(', ')}` : ''}`)
  }
  const file = await store.completeDownload(key)
  log.info({ path: file.path, fetched: progress.fetched, sources: [...progress.delivered], badPeers: [...badPeers] }, 'download complete')
  return { cid: key, name: manifest.name, path: file.path, size: manifest.size, sources: [...progress.delivered], fetched: progress.fetched, resumed, badPeers: [...badPeers] }
}

function countBytes (manifest: Manifest, have: Bitfield): number {
  const n = chunkCount(manifest)
  if (n === 0) return 0
  const full = have.count()
  // every chunk is chunkSize long except possibly the last
  return have.get(n - 1) ? (full - 1) * manifest.chunkSize + chunkLength(manifest, n - 1) : full * manifest.chunkSize
}

/** Asks the sources for the manifest, all at once; the first that verifies against the CID wins. */
async function fetchManifest (init: DownloadInit, cid: CID, connect: (s: Source) => Promise<Connection>, failures: string[], outer: AbortSignal, log: Logger): Promise<{ manifest: Manifest, bytes: Uint8Array }> {
  if (init.sources.length === 0) throw new NotFoundError(`no source for ${cid.toString()}: give --from or connect to peers that have it`)
  // sources whose manifest verified against the CID but broke a rule (InvalidManifestError)
  let refused = 0
  const controller = new AbortController()
  const signal = AbortSignal.any([outer, controller.signal, AbortSignal.timeout(init.manifestTimeoutMs)])
  const attempts = init.sources.map(async source => {
    let framed: FramedStream | undefined
    try {
      const conn = await connect(source)
      const stream = await conn.newStream(TRANSFER_PROTOCOL, { signal })
      framed = new FramedStream(stream, { maxFrameBytes: MAX_REPLY_FRAME_BYTES, idleTimeoutMs: init.manifestTimeoutMs })
      const f = framed
      const onAbort = (): void => { f.abort(new TimeoutError('manifest request aborted')) }
      signal.addEventListener('abort', onAbort, { once: true })
      try {
        const parts = encodeOpen({ cid: cid.bytes, wantManifest: true })
        init.stats.message('transfer', 'out', 'OPEN', parts.reduce((n, p) => n + p.byteLength, 0))
        await framed.write(...parts)
        const bytes = await framed.read()
        if (bytes === undefined) throw new RemoteError('closed without a reply')
        const reply = decodeReply(bytes)
        init.stats.message('transfer', 'in', 'OPEN_REPLY', bytes.byteLength)
        if (reply.type !== MessageType.OPEN_REPLY) throw new InvalidMessageError('expected OPEN_REPLY')
        if (reply.status === Status.NOT_FOUND) throw new NotFoundError('does not have it')
        if (reply.status !== Status.OK || reply.manifest === undefined) throw new RemoteError(`error: ${reply.error ?? 'no manifest'}`)
        const manifest = await verifyManifest(cid, reply.manifest)
        await framed.close()
        return { manifest, bytes: Uint8Array.from(reply.manifest) }
      } finally {
        signal.removeEventListener('abort', onAbort)
      }
    } catch (err: any) {
      framed?.abort(err)
      if (err instanceof InvalidManifestError) refused++
      const why = signal.aborted && !outer.aborted && !controller.signal.aborted ? `no answer within ${init.manifestTimeoutMs} ms` : err.message
      failures.push(`${String(source)}: ${why}`)
      log.debug({ source: String(source), err: why }, 'manifest request failed')
      throw err
    }
  })
  try {
    const found = await Promise.any(attempts)
    controller.abort()
    return found
  } catch {
    if (outer.aborted) throw new TimeoutError(`no manifest for ${cid.toString()} before the deadline`)
    if (failures.every(f => f.endsWith('does not have it'))) throw new NotFoundError(`no source has ${cid.toString()} (${failures.join('; ')})`)
    // a manifest that matches its CID yet breaks the rules (a hostile name, too many chunks) is the content's fault, not a missing source
    if (refused > 0 && failures.length === refused + failures.filter(f => f.endsWith('does not have it')).length) {
      throw new InvalidManifestError(`the manifest of ${cid.toString()} breaks the rules: ${failures.join('; ')}`)
    }
    throw new NotFoundError(`could not get the manifest of ${cid.toString()}: ${failures.join('; ')}`)
  }
}

export { CID }
