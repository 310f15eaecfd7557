/**
 * SupernodeService on in-memory stream pairs: real services, real framing,
 * codec, stores and caches; only libp2p's dial/handle are replaced by a tiny
 * in-memory network. Roles are fixed ('super'/'leaf') so runs are deterministic.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { streamPair } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { ContentStore, FramedStream, Stats, silentLogger } from '@sedai/core'
import { ByeCode, MessageType, downloadInBand, encodeQuery } from '@sedai/flooding-peer'
import { ChunkCache } from '../src/cache/cache.ts'
import { resolveConfig } from '../src/config.ts'
import { LinkRefusedError } from '../src/errors.ts'
import { SupernodeService } from '../src/protocol/supernode.ts'
import { MAX_FRAME_BYTES, SUPERNODE_PROTOCOL } from '../src/protocol/constants.ts'
import { Want, decodeMessage } from '../src/protocol/messages.ts'
import type { SupernodeComponents } from '../src/protocol/supernode.ts'
import type { SupernodeConfig } from '../src/config.ts'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { TestContext } from 'node:test'

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
function fakePeerId (): PeerId {
  const id = '12D3KooW' + Array.from(randomBytes(44), b => B58[b % 58]).join('')
  return { toString: () => id } as unknown as PeerId
}

function targetId (target: PeerId | Multiaddr | Multiaddr[]): string {
  const t = Array.isArray(target) ? target[0] : target
  const s = t.toString()
  return /\/p2p\/([^/]+)$/.exec(s)?.[1] ?? s
}

/** Peers that dial each other by /p2p/ address or peer id; handlers kept per (peer, protocol); each stream is a streamPair. */
class MemoryNet {
  readonly handlers = new Map<string, StreamHandler>()
  readonly peers = new Map<string, PeerId>()

  /** A stream from `from` to `to`'s handler of `protocol` (the remote sees `from` as its remote peer). */
  async open (from: PeerId, to: string, protocol: string): Promise<Stream> {
    const handler = this.handlers.get(`${to} ${protocol}`)
    if (handler === undefined) throw new Error(`protocol ${protocol} not supported by ${to}`)
    const [local, far] = await streamPair({ protocol })
    void handler(far, { remotePeer: from } as unknown as Connection)
    return local
  }

  components (peerId: PeerId, port: number): SupernodeComponents {
    const self = peerId.toString()
    this.peers.set(self, peerId)
    return {
      peerId,
      handle: async (protocol, h) => { this.handlers.set(`${self} ${protocol}`, h) },
      unhandle: async (protocol) => { this.handlers.delete(`${self} ${protocol}`) },
      getMultiaddrs: () => [multiaddr(`/ip4/127.0.0.1/tcp/${port}/p2p/${self}`)],
      getPeers: () => [],
      dial: async (target) => {
        const remoteId = targetId(target)
        const remote = this.peers.get(remoteId)
        if (remote === undefined) throw new Error(`no peer ${remoteId}`)
        return {
          remotePeer: remote,
          newStream: async (protocol: string) => await this.open(peerId, remoteId, protocol)
        } as unknown as Connection
      },
      dialProtocol: async (target, protocols) => {
        const protocol = Array.isArray(protocols) ? protocols[0] : protocols
        return await this.open(peerId, targetId(target), protocol)
      }
    }
  }
}

interface Node {
  svc: SupernodeService
  stats: Stats
  store: ContentStore
  cache: ChunkCache
  peerId: string
  addr: string
}

interface NodeOptions {
  role: 'super' | 'leaf'
  bootstrap?: Node[]
  config?: Partial<SupernodeConfig>
  faultCorrupt?: number
}

const FAST: Partial<SupernodeConfig> = {
  maintainIntervalMs: 50,
  electionIntervalMs: 50,
  leafSupernodes: 1,
  minPeers: 1,
  retryMs: 200,
  connectTimeoutMs: 3000,
  relayTimeoutMs: 5000
}

/** A temp root, an in-memory net and a factory of started nodes; everything stopped and removed after the test. */
async function lab (t: TestContext): Promise<{ root: string, net: MemoryNet, node: (o: NodeOptions) => Promise<Node> }> {
  const root = await mkdtemp(join(tmpdir(), 'sedai-supernode-unit-'))
  const net = new MemoryNet()
  const nodes: Node[] = []
  t.after(async () => {
    await Promise.allSettled(nodes.map(async n => { await n.svc.stop() }))
    await Promise.allSettled(nodes.map(async n => { await n.cache.close() }))
    await Promise.allSettled(nodes.map(async n => { await n.store.stop() }))
    await rm(root, { recursive: true, force: true })
  })
  let port = 4000
  const node = async (o: NodeOptions): Promise<Node> => {
    const i = nodes.length
    const peerId = fakePeerId()
    const p = port++
    const store = new ContentStore({ repo: join(root, `n${i}`, 'repo'), chunkSize: 16 * 1024, logger: silentLogger() })
    await store.start()
    const cache = await ChunkCache.open({ dir: join(root, `n${i}`, 'cache') })
    const stats = new Stats()
    const svc = new SupernodeService(net.components(peerId, p), {
      config: resolveConfig({ ...FAST, ...o.config }),
      stats,
      logger: silentLogger(),
      store,
      cache,
      role: o.role,
      interests: [],
      bootstrap: (o.bootstrap ?? []).map(b => b.addr),
      uploadRate: 0,
      faultCorrupt: o.faultCorrupt ?? 0
    })
    const n: Node = { svc, stats, store, cache, peerId: peerId.toString(), addr: `/ip4/127.0.0.1/tcp/${p}/p2p/${peerId.toString()}` }
    nodes.push(n)
    await svc.start()
    return n
  }
  return { root, net, node }
}

async function until (check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(10)
  }
}

const supernodesOf = (n: Node): string[] => n.svc.info().supernodes as string[]
const peersOf = (n: Node): string[] => n.svc.info().peers as string[]

/** Two linked supernodes S1-S2; leaves attached by bootstrap (leafSupernodes 1: each stays with its bootstrap supernode). */
async function twoSupers (node: (o: NodeOptions) => Promise<Node>): Promise<[Node, Node]> {
  const s1 = await node({ role: 'super' })
  const s2 = await node({ role: 'super', bootstrap: [s1] })
  await until(() => peersOf(s1).includes(s2.peerId) && peersOf(s2).includes(s1.peerId))
  return [s1, s2]
}

async function leafOf (node: (o: NodeOptions) => Promise<Node>, s: Node, o: Partial<NodeOptions> = {}): Promise<Node> {
  const leaf = await node({ role: 'leaf', bootstrap: [s], ...o })
  await until(() => supernodesOf(leaf).includes(s.peerId))
  return leaf
}

async function shareRandom (root: string, n: Node, name: string, size: number): Promise<{ cid: string, content: Buffer }> {
  const file = join(root, name)
  const content = randomBytes(size)
  await writeFile(file, content)
  const shared = await n.store.share(file)
  n.svc.sharesChanged()
  return { cid: shared.cid, content }
}

/** The daemon's in-band download (as SupernodeMode.getInBand does it), toward `target`. */
async function download (root: string, n: Node, cid: string, target: string, dest: string): Promise<Buffer> {
  await downloadInBand({
    cid,
    target,
    store: n.store,
    signal: AbortSignal.timeout(10_000),
    resolveDest: () => join(root, dest),
    fetch: async (index, offset, length, signal) => await n.svc.fetchRange({ target, cid, index, offset, length }, undefined, signal)
  })
  return await readFile(join(root, dest))
}

test('leaves attach and index; searches from a leaf of the same or of another supernode find the holder leaf; leaves never get queries', async (t) => {
  const { root, node } = await lab(t)
  const [s1, s2] = await twoSupers(node)
  const holder = await leafOf(node, s1)
  const near = await leafOf(node, s1)
  const far = await leafOf(node, s2)
  assert.deepEqual(supernodesOf(holder), [s1.peerId])
  assert.deepEqual(supernodesOf(far), [s2.peerId])
  assert.equal(s1.svc.info().leaves, 2)
  assert.equal(s2.svc.info().leaves, 1)

  const { cid } = await shareRandom(root, holder, 'Pink Floyd - Echoes.bin', 20_000)
  await until(() => s1.svc.snapshot().leafFiles === 1)
  assert.ok(holder.stats.get('supernode.indexesSent') >= 2, 'the index on attach, and again after sharesChanged')

  const expected = [{ cid, name: 'Pink Floyd - Echoes.bin', size: 20_000, providers: [{ peerId: holder.peerId, addrs: [holder.addr.replace(/\/p2p\/.*$/, '')] }] }]
  assert.deepEqual(await near.svc.search('floyd echoes', { timeoutMs: 300 }), expected)
  assert.deepEqual(await far.svc.search('floyd echoes', { timeoutMs: 300 }), expected)
  assert.deepEqual(await far.svc.search('floyd wall', { timeoutMs: 200 }), [])

  // queries travel among supernodes only
  for (const n of [s1, s2, holder, near, far]) assert.equal(n.stats.get('supernode.droppedQueryNotSuper'), 0)
  for (const n of [holder, near, far]) assert.equal(n.stats.get('messages.supernode.in.QUERY'), 0, 'a leaf never receives a query')
  assert.equal(s1.stats.get('supernode.queriesForwarded'), 1, "near's query went on to S2 only, not to S1's leaves")
  assert.equal(s2.stats.get('supernode.queriesForwarded'), 2, "far's two queries went to S1 only")
  assert.equal(s1.stats.get('supernode.queriesReceived'), 3)
  assert.equal(s1.stats.get('supernode.hitsSent'), 2)
  assert.equal(s2.stats.get('supernode.hitsRouted'), 1)
})

test('in-band through two supernodes: identical bytes, both cache the file, a second leaf is served from a cache', async (t) => {
  const { root, node } = await lab(t)
  const [s1, s2] = await twoSupers(node)
  const holder = await leafOf(node, s1)
  const first = await leafOf(node, s2)
  const second = await leafOf(node, s2)
  const { cid, content } = await shareRandom(root, holder, 'relayed.bin', 50_000) // 4 chunks of 16 KiB
  await until(() => s1.svc.snapshot().leafFiles === 1)

  const hits = await first.svc.search('relayed', { timeoutMs: 300 })
  assert.deepEqual(hits.map(h => h.providers[0].peerId), [holder.peerId])
  assert.ok(first.svc.hasPathTo(holder.peerId))
  assert.deepEqual(await download(root, first, cid, holder.peerId, 'first.bin'), content)

  for (const s of [s1, s2]) assert.deepEqual(s.cache.files(), [{ cid, name: 'relayed.bin', size: 50_000 }])
  assert.equal(s1.stats.get('supernode.chunksCached'), 4)
  assert.equal(s2.stats.get('supernode.chunksCached'), 4)
  const origin = holder.stats.get('supernode.bytesServedOrigin')
  assert.equal(origin, 50_000, 'the holder served each byte once')
  assert.equal(s2.stats.get('supernode.bytesRelayed'), 50_000)

  // the second leaf: its search also finds the caches; downloading from the holder stops at S2's cache
  const again = await second.svc.search('relayed', { timeoutMs: 300 })
  assert.deepEqual(new Set(again.map(h => h.providers[0].peerId)), new Set([s2.peerId, s1.peerId, holder.peerId]))
  const s1Requests = s1.stats.get('supernode.relayRequests')
  assert.deepEqual(await download(root, second, cid, holder.peerId, 'second.bin'), content)
  assert.equal(holder.stats.get('supernode.bytesServedOrigin'), origin, 'not a byte more from the holder')
  assert.equal(s2.stats.get('supernode.bytesServedCache'), 50_000)
  assert.equal(s1.stats.get('supernode.relayRequests'), s1Requests, 'S2 did not even ask S1')
})

test('a supernode that answered from its cache serves a download targeted at itself', async (t) => {
  const { root, node } = await lab(t)
  const [s1, s2] = await twoSupers(node)
  const holder = await leafOf(node, s1)
  const first = await leafOf(node, s2)
  const second = await leafOf(node, s2)
  const { cid, content } = await shareRandom(root, holder, 'cached.bin', 40_000)
  await until(() => s1.svc.snapshot().leafFiles === 1)
  await first.svc.search('cached', { timeoutMs: 300 })
  assert.deepEqual(await download(root, first, cid, holder.peerId, 'first.bin'), content)
  assert.equal(s2.cache.files().length, 1)

  // S2 advertises its cached copy with itself as responder (the nearest hit): following that hit must work
  const hits = await second.svc.search('cached', { timeoutMs: 300 })
  assert.ok(hits.some(h => h.providers[0].peerId === s2.peerId))
  assert.ok(second.svc.hasPathTo(s2.peerId))
  assert.deepEqual(await download(root, second, cid, s2.peerId, 'second.bin'), content)
})

test('a corrupting holder: the download fails, the supernode next to it rejects the chunks, nothing is cached', async (t) => {
  const { root, node } = await lab(t)
  const [s1, s2] = await twoSupers(node)
  const holder = await leafOf(node, s1, { faultCorrupt: 1 })
  const leaf = await leafOf(node, s2)
  const { cid } = await shareRandom(root, holder, 'broken.bin', 40_000)
  await until(() => s1.svc.snapshot().leafFiles === 1)
  assert.equal((await leaf.svc.search('broken', { timeoutMs: 300 })).length, 1)

  await assert.rejects(download(root, leaf, cid, holder.peerId, 'broken.bin'))
  assert.ok(s1.stats.get('supernode.corruptRejected') > 0, 'S1 verified what the holder sent')
  assert.ok(s1.stats.get('supernode.corruptRejected') + s2.stats.get('supernode.corruptRejected') > 0)
  assert.equal(s2.stats.get('supernode.bytesRelayed'), 0, 'no corrupt byte passed on')
  for (const s of [s1, s2]) {
    assert.deepEqual(s.cache.files(), [])
    assert.equal(s.stats.get('supernode.chunksCached'), 0)
  }
})

test('refusals: a leaf refuses a leaf but lists its supernodes (the asker then attaches to one with room); a full supernode refuses with FULL', async (t) => {
  const { node } = await lab(t)
  const full = await node({ role: 'super', config: { maxLeaves: 1 } }) // leafCapacity(threshold 0.6, 1) = 1 leaf
  const roomy = await node({ role: 'super', bootstrap: [full] })
  await until(() => peersOf(full).includes(roomy.peerId))
  const member = await leafOf(node, full)
  assert.equal(full.svc.info().maxLeaves, 1)

  const asker = await node({ role: 'leaf' }) // no bootstrap: knows nobody
  await assert.rejects(asker.svc.connect(multiaddr(member.addr), Want.LEAF), (err: any) => {
    assert.ok(err instanceof LinkRefusedError, `${err.name}: ${err.message}`)
    assert.match(err.message, /NOT_SUPER/)
    return true
  })
  assert.equal(member.stats.get('supernode.refused.NOT_SUPER'), 1)
  assert.deepEqual(supernodesOf(member), [full.peerId], 'the refusal did not disturb the member')
  // learnt from the WELCOME: both supernodes; the full one is skipped, the roomy one taken
  assert.equal(asker.svc.peerInfo(full.peerId)?.role, 'super')
  assert.equal(asker.svc.peerInfo(roomy.peerId)?.role, 'super')
  // once the refused link is gone, nothing is kept of the leaf: a leaf is not remembered as a supernode
  await until(() => asker.svc.peerInfo(member.peerId) === undefined)
  await until(() => supernodesOf(asker).includes(roomy.peerId))
  assert.deepEqual(supernodesOf(asker), [roomy.peerId])

  const late = await node({ role: 'leaf' })
  await assert.rejects(late.svc.connect(multiaddr(full.addr), Want.LEAF), (err: any) => {
    assert.ok(err instanceof LinkRefusedError, `${err.name}: ${err.message}`)
    assert.match(err.message, /FULL/)
    return true
  })
  assert.equal(full.stats.get('supernode.refused.FULL'), 1)
  assert.equal(full.svc.info().leaves, 1)
})

test('a QUERY before the handshake, or garbage, ends the link with BYE PROTOCOL_ERROR; the service keeps working', async (t) => {
  const { root, net, node } = await lab(t)
  const s = await node({ role: 'super' })
  const links = (s.svc as any).links as Map<string, unknown>

  const rogue = async (frame: Uint8Array): Promise<void> => {
    const id = fakePeerId()
    const framed = new FramedStream(await net.open(id, s.peerId, SUPERNODE_PROTOCOL), { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
    await until(() => links.has(id.toString()))
    await framed.write(frame)
    const bye = await framed.read()
    assert.ok(bye !== undefined)
    const msg = decodeMessage(bye) as any
    assert.equal(msg.type, MessageType.BYE)
    assert.equal(msg.code, ByeCode.PROTOCOL_ERROR)
    assert.equal(await framed.read(), undefined, 'then the stream ends')
    await until(() => !links.has(id.toString()))
  }
  await rogue(encodeQuery({ id: randomBytes(16), ttl: 3, hops: 0, text: 'anything' }))
  assert.equal(s.stats.get('supernode.queriesReceived'), 0, 'the early QUERY was not processed')
  await rogue(Uint8Array.from([0xee, 1, 2, 3]))
  assert.equal(s.stats.get('supernode.droppedInvalid'), 1)
  await rogue(Uint8Array.from([16, 9])) // a HELLO with an unknown want and no status
  assert.equal(s.stats.get('supernode.droppedInvalid'), 2)
  assert.equal(links.size, 0)

  const holder = await leafOf(node, s)
  const asker = await leafOf(node, s)
  const { cid } = await shareRandom(root, holder, 'still-works.bin', 1000)
  await until(() => s.svc.snapshot().leafFiles === 1)
  assert.deepEqual((await asker.svc.search('still works', { timeoutMs: 200 })).map(h => h.cid), [cid])
})
