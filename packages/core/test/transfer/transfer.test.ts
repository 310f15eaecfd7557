/**
 * The transfer service and the multi-source downloader on in-memory stream
 * pairs: a real ContentStore behind a real TransferService on one side, and
 * honest or hostile peers on the other. Only libp2p's registrar and
 * connection manager are stubbed (the service's narrow components).
 */
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { FramedStream } from '../../src/framing.ts'
import { silentLogger } from '../../src/logger.ts'
import { Stats } from '../../src/stats.ts'
import { ContentStore } from '../../src/store/content-store.ts'
import { chunkCount, parseCid } from '../../src/store/manifest.ts'
import { MAX_REPLY_FRAME_BYTES, MAX_REQUEST_FRAME_BYTES, TRANSFER_PROTOCOL } from '../../src/transfer/constants.ts'
import { decodeReply, decodeRequest, encodeChunkReply, encodeChunkRequest, encodeOpen, encodeOpenReply, MessageType, Status } from '../../src/transfer/messages.ts'
import { TransferService } from '../../src/transfer/transfer.ts'
import type { TestContext } from 'node:test'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'

const CHUNK = 16 * 1024

async function newPeerId (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

interface Peer { peerId: PeerId, service: TransferService, store: ContentStore, stats: Stats, handler: StreamHandler }

/** A TransferService whose registrar hands us its stream handler. */
async function seeder (t: TestContext, init: { faultCorruptRate?: number } = {}): Promise<Peer> {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-unit-'))
  t.after(async () => { await store.stop(); await rm(repo, { recursive: true, force: true }) })
  const store = new ContentStore({ repo, chunkSize: CHUNK, logger: silentLogger() })
  await store.start()
  const stats = new Stats()
  let handler: StreamHandler | undefined
  const registrar = {
    handle: async (_p: string, h: StreamHandler) => { handler = h },
    unhandle: async () => {}
  }
  const connectionManager = {}
  const service = new TransferService({ registrar, connectionManager } as any, { store, stats, logger: silentLogger(), ...init })
  await service.start()
  return { peerId: await newPeerId(), service, store, stats, handler: handler as StreamHandler }
}

/** Opens a stream pair to `serve`, which plays the remote side. */
async function connectTo (remotePeer: PeerId, serve: (stream: Stream, conn: Connection) => void | Promise<void>): Promise<Connection> {
  return {
    remotePeer,
    newStream: async () => {
      const [local, remote] = await streamPair({ protocol: TRANSFER_PROTOCOL })
      void serve(remote, { remotePeer: await newPeerId() } as unknown as Connection)
      return local
    }
  } as unknown as Connection
}

async function sharedFile (t: TestContext, peer: Peer, bytes: Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-unit-files-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const path = join(dir, 'data.bin')
  await writeFile(path, bytes)
  return (await peer.store.share(path)).cid
}

function randomBytes (n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)))
  return out
}

test('server: OPEN with the manifest, chunks in order, errors as statuses', async (t) => {
  const a = await seeder(t)
  const bytes = randomBytes(3 * CHUNK + 100)
  const cid = await sharedFile(t, a, bytes)
  const conn = await connectTo(a.peerId, a.handler)
  const framed = new FramedStream(await conn.newStream(TRANSFER_PROTOCOL), { maxFrameBytes: MAX_REPLY_FRAME_BYTES, idleTimeoutMs: 5000 })
  await framed.write(...encodeOpen({ cid: parseCid(cid).bytes, wantManifest: true }))
  const open = decodeReply(await framed.read() as Uint8Array)
  assert.ok(open.type === MessageType.OPEN_REPLY && open.status === Status.OK && open.manifest !== undefined)
  for (const i of [0, 1, 2, 3, 99]) await framed.write(...encodeChunkRequest(i))
  const got: Uint8Array[] = []
  for (let i = 0; i < 4; i++) {
    const r = decodeReply(await framed.read() as Uint8Array)
    assert.ok(r.type === MessageType.CHUNK_REPLY && r.status === Status.OK && r.index === i)
    got.push(Uint8Array.from(r.data as Uint8Array))
  }
  assert.deepEqual(Buffer.concat(got), Buffer.from(bytes))
  const outOfRange = decodeReply(await framed.read() as Uint8Array)
  assert.ok(outOfRange.type === MessageType.CHUNK_REPLY && outOfRange.status === Status.ERROR && outOfRange.index === 99)
  await framed.close()
  assert.equal(a.stats.get('transfer.chunksServed'), 4)
})

test('server: unknown CID is NOT_FOUND; a bad first frame gets ERROR and the stream closes', async (t) => {
  const a = await seeder(t)
  const conn = await connectTo(a.peerId, a.handler)
  const unknown = parseCid('bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4')
  let framed = new FramedStream(await conn.newStream(TRANSFER_PROTOCOL), { maxFrameBytes: MAX_REPLY_FRAME_BYTES, idleTimeoutMs: 5000 })
  await framed.write(...encodeOpen({ cid: unknown.bytes, wantManifest: true }))
  assert.deepEqual(decodeReply(await framed.read() as Uint8Array), { type: MessageType.OPEN_REPLY, status: Status.NOT_FOUND, error: 'not shared here' })
  assert.equal(await framed.read(), undefined, 'closed after NOT_FOUND')

  framed = new FramedStream(await conn.newStream(TRANSFER_PROTOCOL), { maxFrameBytes: MAX_REPLY_FRAME_BYTES, idleTimeoutMs: 5000 })
  await framed.write(...encodeChunkRequest(0)) // not OPEN
  const r = decodeReply(await framed.read() as Uint8Array)
  assert.ok(r.type === MessageType.OPEN_REPLY && r.status === Status.ERROR)
  assert.equal(await framed.read(), undefined)

  framed = new FramedStream(await conn.newStream(TRANSFER_PROTOCOL), { maxFrameBytes: MAX_REPLY_FRAME_BYTES, idleTimeoutMs: 5000 })
  await framed.write(new Uint8Array(MAX_REQUEST_FRAME_BYTES + 1)) // oversized request frame
  const r2 = decodeReply(await framed.read() as Uint8Array)
  assert.ok(r2.type === MessageType.OPEN_REPLY && r2.status === Status.ERROR && /exceeds/.test(r2.error ?? ''))
})

test('download: two honest sources and one liar; the liar is dropped, the bytes are right', async (t) => {
  const bytes = randomBytes(40 * CHUNK + 5)
  const peers = [await seeder(t), await seeder(t), await seeder(t, { faultCorruptRate: 1 })]
  let cid = ''
  for (const p of peers) cid = await sharedFile(t, p, bytes)
  const b = await seeder(t)
  const conns = new Map<string, Connection>()
  for (const p of peers) conns.set(p.peerId.toString(), await connectTo(p.peerId, p.handler))
  const connectionManager = { openConnection: async (peer: PeerId) => conns.get(peer.toString()) }
  const service = new TransferService({ registrar: { handle: async () => {}, unhandle: async () => {} }, connectionManager } as any, { store: b.store, stats: b.stats, logger: silentLogger(), windowPerPeer: 4 })
  const dest = join(await mkdtemp(join(tmpdir(), 'sedai-unit-out-')), 'out.bin')
  t.after(async () => { await rm(dest, { force: true }) })
  const result = await service.download({ cid, sources: peers.map(p => p.peerId), resolveDest: () => dest })
  assert.deepEqual(Buffer.from(await readFile(dest)), Buffer.from(bytes))
  assert.deepEqual(result.badPeers, [peers[2].peerId.toString()])
  assert.equal(result.fetched, bytes.byteLength)
  assert.ok(result.sources.length === 2 && !result.sources.includes(peers[2].peerId.toString()))
  assert.ok(b.stats.get('transfer.chunksRejected') >= 1)
})

test('download: a wrong-offset chunk closes the stream and marks the source bad; a lone liar fails the download', async (t) => {
  const honest = await seeder(t)
  const bytes = randomBytes(8 * CHUNK)
  const cid = await sharedFile(t, honest, bytes)
  const manifest = honest.store.getManifest(cid)?.bytes as Uint8Array
  const hostileId = await newPeerId()
  // answers OPEN honestly, then sends chunk 5's real bytes whatever is asked
  const hostile = await connectTo(hostileId, async (stream) => {
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_REQUEST_FRAME_BYTES, idleTimeoutMs: 5000 })
    try {
      const open = decodeRequest(await framed.read() as Uint8Array)
      assert.equal(open.type, MessageType.OPEN)
      await framed.write(...encodeOpenReply({ status: Status.OK, manifest: open.type === MessageType.OPEN && open.wantManifest ? manifest : undefined }))
      while (await framed.read() !== undefined) {
        await framed.write(...encodeChunkReply({ status: Status.OK, index: 5, data: bytes.subarray(5 * CHUNK, 6 * CHUNK) }))
      }
    } catch {}
  })
  const b = await seeder(t)
  const connectionManager = { openConnection: async () => hostile }
  const service = new TransferService({ registrar: { handle: async () => {}, unhandle: async () => {} }, connectionManager } as any, { store: b.store, stats: b.stats, logger: silentLogger() })
  const dest = join(await mkdtemp(join(tmpdir(), 'sedai-unit-out-')), 'out.bin')
  await assert.rejects(service.download({ cid, sources: [hostileId], resolveDest: () => dest }), (err: any) => {
    assert.equal(err.code, 'ERR_DOWNLOAD_FAILED')
    assert.match(err.message, /bad peers: /)
    assert.match(err.message, /chunk 5 where chunk 0 was due/)
    return true
  })
  // what did verify (nothing here) is kept for a later resume
  const record = b.store.getDownload(cid)
  assert.ok(record !== undefined && record.have.count() === 0 && chunkCount(record.manifest) === 8)
})

/** A downloading TransferService whose connection manager knows `conns` by peer id. */
function downloader (b: Peer, conns: Map<string, Connection>, init: { windowPerPeer?: number, chunkTimeoutMs?: number, maxBadChunksPerPeer?: number } = {}): TransferService {
  const connectionManager = { openConnection: async (peer: PeerId) => conns.get(peer.toString()) }
  return new TransferService({ registrar: { handle: async () => {}, unhandle: async () => {} }, connectionManager } as any, { store: b.store, stats: b.stats, logger: silentLogger(), ...init })
}

async function outPath (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-unit-out-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return join(dir, 'out.bin')
}

for (const rate of [0.01, 0.1, 1]) {
  test(`download: five sources, one corrupting ${rate * 100}% of chunks, one dying at 50%: right bytes, only the liar dropped, after at most maxBadChunksPerPeer bad chunks`, async (t) => {
    const n = 512
    const bytes = randomBytes(n * CHUNK - 77)
    const honest = [await seeder(t), await seeder(t), await seeder(t)]
    const liar = await seeder(t, { faultCorruptRate: rate })
    const dying = await seeder(t)
    const peers = [...honest, liar, dying]
    let cid = ''
    for (const p of peers) cid = await sharedFile(t, p, bytes)
    const conns = new Map<string, Connection>()
    for (const p of [...honest, liar]) conns.set(p.peerId.toString(), await connectTo(p.peerId, p.handler))
    // the dying seeder's streams are reset mid-transfer, as when its process is killed
    const dyingStreams: Stream[] = []
    conns.set(dying.peerId.toString(), await connectTo(dying.peerId, (stream, conn) => { dyingStreams.push(stream); return dying.handler(stream, conn) }))
    let killedAt = -1
    const b = await seeder(t)
    const service = downloader(b, conns)
    const dest = await outPath(t)
    const started = Date.now()
    const result = await service.download({
      cid,
      sources: peers.map(p => p.peerId),
      resolveDest: () => dest,
      onProgress: (p) => {
        if (killedAt < 0 && p.have >= p.size / 2) {
          killedAt = p.have
          for (const s of dyingStreams) s.abort(new Error('killed'))
        }
      }
    })
    const ms = Date.now() - started
    assert.deepEqual(Buffer.from(await readFile(dest)), Buffer.from(bytes))
    const rejected = b.stats.get('transfer.chunksRejected')
    const sentBad = liar.stats.get('transfer.chunksCorruptedOnPurpose')
    t.diagnostic(`rate ${rate}: ${n} chunks in ${ms} ms; liar served ${liar.stats.get('transfer.chunksServed')} chunks, ${sentBad} corrupted; downloader rejected ${rejected}; dying seeder cut at ${(killedAt / bytes.byteLength * 100).toFixed(1)}% after serving ${dying.stats.get('transfer.chunksServed')}; badPeers ${result.badPeers.length}; sources ${result.sources.length}`)
    assert.ok(killedAt >= bytes.byteLength / 2, 'the dying seeder was cut')
    assert.ok(rejected <= 1, `at most maxBadChunksPerPeer (1) bad chunks read, got ${rejected}`)
    assert.ok(rejected <= sentBad)
    // only the liar is ever blamed; it is blamed as soon as one of its bad chunks is read
    assert.deepEqual(result.badPeers, rejected > 0 ? [liar.peerId.toString()] : [])
    if (rate === 1) assert.equal(rejected, 1, 'a liar corrupting every chunk is caught')
    for (const p of honest) assert.ok(result.sources.includes(p.peerId.toString()), 'every honest seeder delivered')
    assert.equal(result.fetched, bytes.byteLength)
  })
}

test('download: maxBadChunksPerPeer is honoured: at 3, a liar corrupting every chunk is dropped on its third bad chunk, not before', async (t) => {
  const bytes = randomBytes(64 * CHUNK)
  const honest = await seeder(t)
  const liar = await seeder(t, { faultCorruptRate: 1 })
  let cid = ''
  for (const p of [honest, liar]) cid = await sharedFile(t, p, bytes)
  const conns = new Map<string, Connection>()
  for (const p of [honest, liar]) conns.set(p.peerId.toString(), await connectTo(p.peerId, p.handler))
  const b = await seeder(t)
  const dest = await outPath(t)
  const result = await downloader(b, conns, { maxBadChunksPerPeer: 3 }).download({ cid, sources: [honest.peerId, liar.peerId], resolveDest: () => dest })
  const rejected = b.stats.get('transfer.chunksRejected')
  t.diagnostic(`maxBadChunksPerPeer 3: liar sent ${liar.stats.get('transfer.chunksCorruptedOnPurpose')} corrupted chunks, downloader rejected ${rejected}, badPeers ${JSON.stringify(result.badPeers.map(p => p === liar.peerId.toString() ? 'liar' : 'honest'))}`)
  assert.equal(rejected, 3)
  assert.deepEqual(result.badPeers, [liar.peerId.toString()])
  assert.deepEqual(result.sources, [honest.peerId.toString()])
  assert.deepEqual(Buffer.from(await readFile(result.path)), Buffer.from(bytes))
})

test('download: a reply with no request in flight closes the stream and marks only its sender bad; stalled sources time out unblamed', async (t) => {
  const seed = await seeder(t)
  const bytes = randomBytes(4 * CHUNK)
  const cid = await sharedFile(t, seed, bytes)
  const manifest = seed.store.getManifest(cid)?.bytes as Uint8Array
  const n = 4
  // two stallers take every chunk (one assigned, one in the end game) and never answer
  let requests = 0
  let bothBusy: () => void = () => {}
  const busy = new Promise<void>(resolve => { bothBusy = resolve })
  const staller = async (stream: Stream): Promise<void> => {
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_REQUEST_FRAME_BYTES, idleTimeoutMs: 10_000 })
    try {
      const open = decodeRequest(await framed.read() as Uint8Array)
      await framed.write(...encodeOpenReply({ status: Status.OK, manifest: open.type === MessageType.OPEN && open.wantManifest ? manifest : undefined }))
      while (await framed.read() !== undefined) if (++requests === 2 * n) bothBusy()
    } catch {}
  }
  // the hostile source waits until it cannot be given any chunk, then sends one anyway
  let sentAt = 0
  let closedAfterMs = -1
  const hostile = async (stream: Stream): Promise<void> => {
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_REQUEST_FRAME_BYTES, idleTimeoutMs: 10_000 })
    try {
      const open = decodeRequest(await framed.read() as Uint8Array)
      if (open.type === MessageType.OPEN && open.wantManifest) {
        await framed.write(...encodeOpenReply({ status: Status.OK, manifest }))
        return await framed.close()
      }
      await busy
      await framed.write(...encodeOpenReply({ status: Status.OK }))
      await framed.write(...encodeChunkReply({ status: Status.OK, index: 0, data: bytes.subarray(0, CHUNK) }))
      sentAt = Date.now()
      while (await framed.read() !== undefined) {} // a request here would mean the stream stayed open
    } catch {}
    closedAfterMs = Date.now() - sentAt
  }
  const ids = [await newPeerId(), await newPeerId(), await newPeerId()]
  const conns = new Map<string, Connection>([
    [ids[0].toString(), await connectTo(ids[0], staller)],
    [ids[1].toString(), await connectTo(ids[1], staller)],
    [ids[2].toString(), await connectTo(ids[2], hostile)]
  ])
  const b = await seeder(t)
  const service = downloader(b, conns, { chunkTimeoutMs: 1500 })
  const dest = await outPath(t)
  await assert.rejects(service.download({ cid, sources: ids, resolveDest: () => dest }), (err: any) => {
    assert.equal(err.code, 'ERR_DOWNLOAD_FAILED')
    assert.match(err.message, /sent chunk 0 with no request in flight/)
    assert.match(err.message, new RegExp(`bad peers: ${ids[2].toString()}$`), 'the stallers are not blamed')
    return true
  })
  t.diagnostic(`unrequested chunk: stream closed ${closedAfterMs} ms after it was sent; ${requests} requests held by the stallers`)
  assert.ok(sentAt > 0 && closedAfterMs >= 0 && closedAfterMs < 1500, `closed at once, not by a timeout (${closedAfterMs} ms)`)
})

test('download: a source whose stream ends inside a chunk frame (a crash) is not blamed; the others finish the file', async (t) => {
  const honest = await seeder(t)
  const bytes = randomBytes(16 * CHUNK)
  const cid = await sharedFile(t, honest, bytes)
  const manifest = honest.store.getManifest(cid)?.bytes as Uint8Array
  const cutterId = await newPeerId()
  let cut = 0
  const cutter = await connectTo(cutterId, async (stream) => {
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_REQUEST_FRAME_BYTES, idleTimeoutMs: 5000 })
    try {
      const open = decodeRequest(await framed.read() as Uint8Array)
      await framed.write(...encodeOpenReply({ status: Status.OK, manifest: open.type === MessageType.OPEN && open.wantManifest ? manifest : undefined }))
      if (open.type === MessageType.OPEN && open.wantManifest) return await framed.close()
      await framed.read()
      // a header announcing a whole chunk reply, a tenth of it, then the end
      const head = new Uint8Array(4)
      new DataView(head.buffer).setUint32(0, 6 + CHUNK)
      stream.send(head)
      stream.send(new Uint8Array(CHUNK / 10))
      cut++
      await stream.close()
    } catch {}
  })
  const conns = new Map<string, Connection>([[honest.peerId.toString(), await connectTo(honest.peerId, honest.handler)], [cutterId.toString(), cutter]])
  const b = await seeder(t)
  const dest = await outPath(t)
  const result = await downloader(b, conns).download({ cid, sources: [cutterId, honest.peerId], resolveDest: () => dest })
  t.diagnostic(`streams cut inside a frame: ${cut}; badPeers ${result.badPeers.length}; sources ${result.sources.length}`)
  assert.equal(cut, 1)
  assert.deepEqual(result.badPeers, [])
  assert.deepEqual(result.sources, [honest.peerId.toString()])
  assert.deepEqual(Buffer.from(await readFile(dest)), Buffer.from(bytes))
})
