/**
 * FloodService on in-memory stream pairs: real services, real framing and
 * codec; only libp2p's dial/handle are replaced by the overlays' in-memory
 * network (helpers/memory-net.ts).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ContentStore, FramedStream, Stats, silentLogger } from '@sedai/core'
import { resolveConfig } from '../src/config.ts'
import { FloodService, matches } from '../src/protocol/flood.ts'
import { FloodMode } from '../src/mode.ts'
import { downloadInBand } from '../src/in-band.ts'
import { MemoryNet, fakePeerId } from './helpers/memory-net.ts'
import { FLOOD_PROTOCOL, MAX_FRAME_BYTES } from '../src/protocol/constants.ts'
import { ByeCode, MessageType, decodeMessage, encodePing, encodeQuery, encodeQueryHit } from '../src/protocol/messages.ts'
import type { LocalFile } from '../src/protocol/flood.ts'
import type { FloodConfig } from '../src/config.ts'
import type { TestContext } from 'node:test'

interface Peer { service: FloodService, stats: Stats, peerId: string, addr: string, files: LocalFile[] }

async function peers (t: TestContext, n: number, config: Partial<FloodConfig> = {}): Promise<Peer[]> {
  const net = new MemoryNet()
  const out: Peer[] = []
  for (let i = 0; i < n; i++) {
    const peerId = fakePeerId()
    const stats = new Stats()
    const files: LocalFile[] = []
    const service = new FloodService(net.components(peerId, 4000 + i), {
      config: resolveConfig({ minNeighbours: 0, maintainIntervalMs: 50, ...config }),
      stats,
      logger: silentLogger(),
      files: () => files
    })
    await service.start()
    t.after(async () => { await service.stop() })
    out.push({ service, stats, peerId: peerId.toString(), addr: `/ip4/127.0.0.1/tcp/${4000 + i}/p2p/${peerId.toString()}`, files })
  }
  return out
}

async function until (check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(10)
  }
}

const CID = 'bafyreihoxdfaya7bqsqhdns3qpv4qv7uj5x7sj43qiktr76qrxbh5acwxm'

/** A neighbour of `service` driven by hand: an in-memory link stream, framed, past its first PING. */
async function rawNeighbour (service: FloodService): Promise<FramedStream> {
  const [local, far] = await streamPair({ protocol: FLOOD_PROTOCOL })
  ;(service as any).accept(far, { remotePeer: fakePeerId() })
  const framed = new FramedStream(local, { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
  await framed.write(encodePing(1))
  return framed
}

test('matches: every word in the name (any case), or the CID itself', () => {
  const f = { cid: CID, name: 'Pink Floyd - Echoes.mp3', size: 1 }
  assert.ok(matches(f, 'floyd echoes'))
  assert.ok(matches(f, CID))
  assert.ok(!matches(f, 'floyd wall'))
  assert.ok(!matches(f, '   '))
})

test('a line A-B-C: links are undirected; TTL 2 reaches C, TTL 1 does not; the hit returns via B', async (t) => {
  const [a, b, c] = await peers(t, 3)
  c.files.push({ cid: CID, name: 'far-away.txt', size: 5 })
  await b.service.connect(multiaddr(a.addr))
  await c.service.connect(multiaddr(b.addr))
  await until(() => b.service.neighbours().length === 2 && a.service.neighbours().length === 1)
  assert.deepEqual(a.service.neighbours(), [b.peerId], 'A counts B although B dialled')

  const streamed: string[] = []
  const hits = await a.service.search('far away', { ttl: 2, timeoutMs: 300, onHit: h => streamed.push(h.name) })
  assert.deepEqual(hits, [{ cid: CID, name: 'far-away.txt', size: 5, providers: [{ peerId: c.peerId, addrs: ['/ip4/127.0.0.1/tcp/4002'] }] }])
  assert.deepEqual(streamed, ['far-away.txt'])
  assert.equal(b.stats.get('flood.hitsRouted'), 1)
  assert.equal(b.stats.get('flood.queriesForwarded'), 1)
  assert.equal(c.stats.get('flood.hitsSent'), 1)
  assert.equal(c.stats.get('flood.droppedTtl'), 1, 'C answers but does not forward at TTL 0')

  assert.deepEqual(await a.service.search('far away', { ttl: 1, timeoutMs: 300 }), [])
  assert.equal(b.stats.get('flood.droppedTtl'), 1)
  assert.equal(a.stats.get('flood.queriesOriginated'), 2)
  assert.ok(a.stats.get('messages.flood.out.QUERY') === 2 && a.stats.get('bytes.flood.out.QUERY') > 0)
})

test('a triangle: every copy after the first is a duplicate, each id goes at most once over each link per direction', async (t) => {
  const [a, b, c] = await peers(t, 3)
  await b.service.connect(multiaddr(a.addr))
  await c.service.connect(multiaddr(a.addr))
  await c.service.connect(multiaddr(b.addr))
  await until(() => [a, b, c].every(p => p.service.neighbours().length === 2))
  await a.service.search('anything', { ttl: 7, timeoutMs: 200 })
  // a copy may still be on its way when the search returns (a loaded machine): wait until every copy sent has arrived.
  // Every copy after the first at b and at c is a duplicate, and so is any copy that reaches a (when c's copy reached
  // b before a's did, b forwards to a): duplicates over all three = copies sent - 2
  const count = (): { recent: any[], total: number, dups: number } => {
    const recent = [a, b, c].map(p => (p.service.snapshot().recentQueries as any[])[0])
    return { recent, total: recent.reduce((s, q) => s + q.sent, 0), dups: [a, b, c].reduce((s, p) => s + p.stats.get('flood.droppedDuplicate'), 0) }
  }
  // (a copy with more TTL than the first one at that peer is not a duplicate: it is forwarded again, if anyone gains)
  const higher = (): number => [a, b, c].reduce((s, p) => s + p.stats.get('flood.higherTtlCopies'), 0)
  await until(() => { const x = count(); return x.dups + higher() === x.total - 2 })
  const { recent, total } = count()
  for (const q of recent) for (const n of Object.values(q.sentTo)) assert.equal(n, 1)
  assert.ok(total >= 2 && total <= 4, `${total} messages on 3 links`)
})

test('a copy over a longer path first, then the shorter path\'s with more TTL: forwarded again, so the peer at TTL hops is still reached; answered once', async (t) => {
  const [p, q] = await peers(t, 2)
  q.files.push({ cid: CID, name: 'just-in-reach.txt', size: 3 })
  await q.service.connect(multiaddr(p.addr))
  await until(() => p.service.neighbours().length === 1)
  p.files.push({ cid: CID, name: 'just-in-reach-too.txt', size: 3 })
  const [longPath, shortPath] = [await rawNeighbour(p.service), await rawNeighbour(p.service)]
  const id = new Uint8Array(16).fill(42)
  // the long path's copy: 1 hop of TTL left at P, so P answers and does not forward it
  await longPath.write(encodeQuery({ id, ttl: 1, hops: 5, text: 'just in reach' }))
  await until(() => p.stats.get('flood.hitsSent') === 1)
  assert.equal(q.stats.get('flood.queriesReceived'), 0)
  // the short path's copy: TTL 2, so Q (one hop further) is within reach
  await shortPath.write(encodeQuery({ id, ttl: 2, hops: 1, text: 'just in reach' }))
  await until(() => q.stats.get('flood.hitsSent') === 1)
  assert.equal(p.stats.get('flood.higherTtlCopies'), 1)
  assert.equal(p.stats.get('flood.hitsSent'), 1, 'P answered the first copy only')
  assert.equal(p.stats.get('flood.hitsRouted'), 1, 'Q\'s hit goes back the way the first copy came')
  const atP = (p.service.snapshot().recentQueries as any[]).find(r => r.id === Buffer.from(id).toString('hex'))
  assert.deepEqual([atP.ttl, atP.maxTtl, atP.sentTo[q.peerId]], [1, 2, 1])
  // the same id again with no more TTL is a duplicate
  await shortPath.write(encodeQuery({ id, ttl: 2, hops: 1, text: 'just in reach' }))
  await until(() => p.stats.get('flood.droppedDuplicate') === 1)
  assert.equal(q.stats.get('flood.queriesReceived'), 1)
})

test('hits for an unknown id are dropped; a malformed frame gets BYE PROTOCOL_ERROR', async (t) => {
  const [a, b] = await peers(t, 2)
  await b.service.connect(multiaddr(a.addr))
  await until(() => a.service.neighbours().length === 1)
  // a raw neighbour of A
  const [local, far] = await streamPair({ protocol: FLOOD_PROTOCOL })
  ;(a.service as any).accept(far, { remotePeer: fakePeerId() })
  const framed = new FramedStream(local, { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
  await framed.write(encodeQueryHit({ id: new Uint8Array(16).fill(9), responder: { peerId: b.peerId, addrs: [] }, files: [{ cid: CID, name: 'x', size: 1 }] }))
  await until(() => a.stats.get('flood.droppedUnknownHit') === 1)
  await framed.write(Uint8Array.of(3, 1, 2))
  const got: number[] = []
  for (let f = await framed.read(); f !== undefined; f = await framed.read()) {
    const m = decodeMessage(f)
    if (m.type === MessageType.BYE) { got.push(m.code); break }
  }
  assert.deepEqual(got, [ByeCode.PROTOCOL_ERROR])
  assert.equal(a.stats.get('flood.droppedInvalid'), 1)
  await until(() => a.service.neighbours().length === 1)
})

test('a full peer refuses with a PONG of other hosts and BYE FULL; the refused peer tops up from its host cache', async (t) => {
  const [a, b, c] = await peers(t, 3)
  ;(a.service.config as FloodConfig).maxNeighbours = 1
  await b.service.connect(multiaddr(a.addr))
  await until(() => a.service.neighbours().length === 1 && a.service.hostCache.size === 1)

  // a raw peer sees the refusal: PONG (A itself and B), then BYE FULL
  const [local, far] = await streamPair({ protocol: FLOOD_PROTOCOL })
  ;(a.service as any).accept(far, { remotePeer: fakePeerId() })
  const framed = new FramedStream(local, { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
  const types: number[] = []
  let pongHosts: string[] = []
  for (let f = await framed.read(); f !== undefined; f = await framed.read()) {
    const m = decodeMessage(f)
    types.push(m.type)
    if (m.type === MessageType.PONG) pongHosts = m.entries.map(e => e.peerId)
    if (m.type === MessageType.BYE) { assert.equal(m.code, ByeCode.FULL); break }
  }
  assert.deepEqual(types, [MessageType.PONG, MessageType.BYE])
  assert.deepEqual(pongHosts.sort(), [a.peerId, b.peerId].sort())
  assert.equal(a.stats.get('flood.refused.FULL'), 1)

  // C wants one neighbour; A is full and names B; C links to B from its host cache
  ;(c.service.config as FloodConfig).minNeighbours = 1
  await assert.rejects(c.service.connect(multiaddr(a.addr)), { code: 'ERR_LINK_CLOSED', message: /BYE FULL/ })
  await until(() => c.service.neighbours().length === 1 && c.service.neighbours()[0] === b.peerId)
  assert.equal(c.stats.get('flood.neighboursFromHostCache'), 1)
  assert.deepEqual(a.service.neighbours(), [b.peerId])
})

test('a flooding neighbour is throttled, then dropped and banned; queries it sent were clamped and deduplicated', async (t) => {
  const [a, b] = await peers(t, 2, { queryRatePerSec: 10, queryBurst: 5, maxThrottledPerWindow: 20 })
  await b.service.connect(multiaddr(a.addr))
  const hostile = fakePeerId()
  const [local, far] = await streamPair({ protocol: FLOOD_PROTOCOL })
  ;(a.service as any).accept(far, { remotePeer: hostile })
  const framed = new FramedStream(local, { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
  await framed.write(encodePing(1))
  const id = new Uint8Array(16).fill(7)
  // duplicates are not charged to the rate (see the next test): 41 distinct queries among 60
  for (let i = 0; i < 60; i++) await framed.write(encodeQuery({ id: i % 3 === 0 ? id : randomBytes(16), ttl: 255, hops: 0, text: 'spam' }))
  let bye: number | undefined
  for (let f = await framed.read(); f !== undefined; f = await framed.read()) {
    const m = decodeMessage(f)
    if (m.type === MessageType.BYE) { bye = m.code; break }
  }
  assert.equal(bye, ByeCode.FLOODING)
  assert.equal(a.stats.get('flood.droppedThrottled'), 21)
  assert.ok(a.stats.get('flood.droppedDuplicate') >= 1)
  assert.ok(a.stats.get('flood.ttlClamped') >= 1)
  assert.equal(a.stats.get('flood.neighboursDroppedForFlooding'), 1)
  assert.deepEqual(a.service.snapshot().banned, [hostile.toString()])
  await until(() => b.stats.get('flood.queriesReceived') >= 1)
  const fwd = (b.service.snapshot().recentQueries as any[])
  assert.ok(fwd.every(q => q.ttl <= 9 && q.hops === 1), 'forwarded with TTL clamped to 10 - 1')
})

test('the ban table stays within maxBanned: a flooder cycling identities pushes out the oldest bans', async (t) => {
  const [a] = await peers(t, 1, { queryRatePerSec: 1, queryBurst: 2, maxThrottledPerWindow: 3, maxBanned: 3 })
  const flooders: string[] = []
  for (let k = 0; k < 5; k++) {
    const hostile = fakePeerId()
    flooders.push(hostile.toString())
    const [local, far] = await streamPair({ protocol: FLOOD_PROTOCOL })
    ;(a.service as any).accept(far, { remotePeer: hostile })
    const framed = new FramedStream(local, { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
    await framed.write(encodePing(1))
    for (let i = 0; i < 10; i++) await framed.write(encodeQuery({ id: randomBytes(16), ttl: 3, hops: 0, text: 'spam' }))
    let bye: number | undefined
    for (let f = await framed.read(); f !== undefined; f = await framed.read()) {
      const m = decodeMessage(f)
      if (m.type === MessageType.BYE) { bye = m.code; break }
    }
    assert.equal(bye, ByeCode.FLOODING, `flooder ${k} dropped for flooding`)
  }
  assert.equal(a.stats.get('flood.neighboursDroppedForFlooding'), 5)
  assert.deepEqual(a.service.snapshot().banned, flooders.slice(2), 'the three latest bans kept, the two oldest pushed out')
})

test('a first copy of a query another neighbour already brought is a free duplicate; a neighbour repeating an id is charged', async (t) => {
  const [a] = await peers(t, 1, { queryRatePerSec: 1, queryBurst: 5, maxThrottledPerWindow: 100 })
  const [x, y] = [await rawNeighbour(a.service), await rawNeighbour(a.service)]
  const ids = Array.from({ length: 5 }, (_, i) => new Uint8Array(16).fill(i + 1))
  const query = (id: Uint8Array): Uint8Array => encodeQuery({ id, ttl: 3, hops: 0, text: 'relayed' })
  for (const id of ids) await x.write(query(id))
  await until(() => a.stats.get('flood.queriesReceived') === 5)
  // y spends its own burst on new queries, then relays the 5 that x brought: honest relaying, not charged
  for (let i = 0; i < 5; i++) await y.write(query(randomBytes(16)))
  for (const id of ids) await y.write(query(id))
  await until(() => a.stats.get('flood.droppedDuplicate') === 5)
  assert.equal(a.stats.get('flood.droppedThrottled'), 0)
  // x sending its own ids again is charged: its burst is spent, so all 5 are throttled
  for (const id of ids) await x.write(query(id))
  await until(() => a.stats.get('flood.droppedThrottled') === 5)
  assert.equal(a.stats.get('flood.droppedDuplicate'), 5)
})

test('no neighbours: search says so', async (t) => {
  const [a] = await peers(t, 1)
  await assert.rejects(a.service.search('x', { timeoutMs: 100 }), { code: 'ERR_NO_NEIGHBOURS' })
})

test('the mode: get without --from uses the responders of recent hits, else floods a query for the CID', async (t) => {
  const net = new MemoryNet()
  const ids = [fakePeerId(), fakePeerId(), fakePeerId()]
  const files: LocalFile[][] = [[], [{ cid: CID, name: 'wanted.bin', size: 9 }], [{ cid: CID, name: 'wanted.bin', size: 9 }]]
  const modes = await Promise.all(ids.map(async (peerId, i) => {
    const mode = new FloodMode({ logger: silentLogger(), repo: '/nonexistent', bootstrap: [], modes: ['flood'] }, resolveConfig({ minNeighbours: 0, findProvidersGraceMs: 100 }))
    const node = net.components(peerId, 5000 + i)
    await mode.start({ node, store: { list: () => files[i] }, stats: new Stats(), logger: silentLogger(), bootstrap: i === 0 ? [] : [`/ip4/127.0.0.1/tcp/5000/p2p/${ids[0].toString()}`] } as any)
    t.after(async () => { await mode.stop() })
    return mode
  }))
  await until(() => (modes[0].info().neighbours as string[]).length === 2)
  // nothing cached: a query for the CID itself finds both holders
  const sources = (await modes[0].findProviders(CID, { signal: AbortSignal.timeout(5000) })).map(String).sort()
  assert.deepEqual(sources, [`/ip4/127.0.0.1/tcp/5001/p2p/${ids[1].toString()}`, `/ip4/127.0.0.1/tcp/5002/p2p/${ids[2].toString()}`].sort())
  // after a search, the hit's responders are remembered
  const other = 'bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje'
  files[2].push({ cid: other, name: 'second.bin', size: 1 })
  const hits = await modes[0].search('second', { timeoutMs: 200, signal: AbortSignal.timeout(1000) })
  assert.equal(hits.length, 1)
  files[2].length = 1 // no longer answers: the cache is what finds it now
  assert.deepEqual((await modes[0].findProviders(other, { signal: AbortSignal.timeout(5000) })).map(String), [`/ip4/127.0.0.1/tcp/5002/p2p/${ids[2].toString()}`])
  const stats = modes[0].stats() as any
  assert.equal(stats.neighbourCount, 2)
})

test('in-band: a file fetched along A-B-C through relayed ranges, verified end to end; a lying responder is caught', async (t) => {
  const repo = await mkdtemp(join(tmpdir(), 'sedai-flood-unit-'))
  t.after(async () => { await rm(repo, { recursive: true, force: true }) })
  const stores = await Promise.all(['a', 'c'].map(async (name) => {
    const store = new ContentStore({ repo: join(repo, name), chunkSize: 16 * 1024, logger: silentLogger() })
    await store.start()
    t.after(async () => { await store.stop() })
    return store
  }))
  const [storeA, storeC] = stores
  const file = join(repo, 'relayed.bin')
  const content = randomBytes(50_000)
  await writeFile(file, content)
  const shared = await storeC.share(file)

  const net = new MemoryNet()
  let lie = false
  const lying = {
    getManifest: (cid: string) => storeC.getManifest(cid),
    readChunk: async (cid: string, index: number) => {
      const data = Uint8Array.from(await storeC.readChunk(cid, index))
      if (lie) data[0] ^= 0xff
      return data
    }
  }
  const services = await Promise.all([0, 1, 2].map(async (i) => {
    const peerId = fakePeerId()
    const service = new FloodService(net.components(peerId, 6000 + i), {
      config: resolveConfig({ minNeighbours: 0 }),
      stats: new Stats(),
      logger: silentLogger(),
      files: () => i === 2 ? storeC.list() : [],
      store: i === 2 ? lying : undefined
    })
    await service.start()
    t.after(async () => { await service.stop() })
    return { service, peerId: peerId.toString(), addr: `/ip4/127.0.0.1/tcp/${6000 + i}/p2p/${peerId.toString()}` }
  }))
  const [a, b, c] = services
  await b.service.connect(multiaddr(a.addr))
  await c.service.connect(multiaddr(b.addr))
  await assert.rejects(a.service.relayFetch(c.peerId, shared.cid, 0, 0, 100), { code: 'ERR_NOT_FOUND', message: /search first/ })
  assert.equal((await a.service.search('relayed', { ttl: 2, timeoutMs: 200 })).length, 1)
  assert.ok(a.service.hasPathTo(c.peerId))

  const progress: number[] = []
  const result = await downloadInBand({
    cid: shared.cid,
    target: c.peerId,
    store: storeA,
    resolveDest: () => join(repo, 'got.bin'),
    onProgress: p => progress.push(p.have),
    fetch: async (index, offset, length, signal) => await a.service.relayFetch(c.peerId, shared.cid, index, offset, length, signal)
  })
  assert.deepEqual(await readFile(join(repo, 'got.bin')), content)
  assert.equal(result.fetched, 50_000)
  assert.deepEqual(result.sources, [c.peerId])
  assert.equal(progress.at(-1), 50_000)

  // the responder flips a byte in every chunk: the relayed chunk fails its hash
  lie = true
  storeA.unshare(shared.cid)
  await rm(join(repo, 'got.bin'))
  await assert.rejects(downloadInBand({
    cid: shared.cid,
    target: c.peerId,
    store: storeA,
    resolveDest: () => join(repo, 'got.bin'),
    fetch: async (index, offset, length, signal) => await a.service.relayFetch(c.peerId, shared.cid, index, offset, length, signal)
  }), { code: 'ERR_HASH_MISMATCH' })
  // a range of something C does not share: NOT_FOUND crosses the wire as a status
  await assert.rejects(a.service.relayFetch(c.peerId, 'bafyreigdmqpykrgxyaxtlafqpqhzrb7qy2rh75nldvfd4tucqmqqme5yje', 0, 0, 10), { code: 'ERR_NOT_FOUND', message: /not shared here/ })
})
