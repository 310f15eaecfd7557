/**
 * SupernodeService on in-memory stream pairs: real services, real framing,
 * codec, stores and caches; only libp2p's dial/handle are replaced by a tiny
 * in-memory network. Roles are fixed ('super'/'leaf') so runs are deterministic.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { FramedStream } from '@sedai/core'
import { ByeCode, MessageType, RelayStatus, downloadInBand, encodeQuery, encodeRelayRequest } from '@sedai/flooding-peer'
import { LinkRefusedError } from '../src/errors.ts'
import { MAX_FRAME_BYTES, SUPERNODE_PROTOCOL } from '../src/protocol/constants.ts'
import { Role, SuperType, Want, decodeMessage, encodeHello } from '../src/protocol/messages.ts'
import { MemoryLab, MemoryNet, fakePeerId } from './helpers/memory-net.ts'
import type { MemoryNode, MemoryNodeOptions } from './helpers/memory-net.ts'
import type { SupernodeConfig } from '../src/config.ts'
import type { TestContext } from 'node:test'

type Node = MemoryNode
type NodeOptions = MemoryNodeOptions

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
  const l = await MemoryLab.create({ defaults: FAST, prefix: 'sedai-supernode-unit-' })
  t.after(async () => { await l.close() })
  return { root: l.root, net: l.net, node: async (o) => await l.node(o) }
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

test('a first copy of a query another link already brought is a free duplicate; a link repeating an id is charged', async (t) => {
  const { node } = await lab(t)
  const s = await node({ role: 'super', config: { queryRatePerSec: 1, queryBurst: 5, maxThrottledPerWindow: 100 } })
  const [x, y] = [await leafOf(node, s), await leafOf(node, s)]
  const links = (s.svc as any).links as Map<string, unknown>
  await until(() => links.has(x.peerId.toString()) && links.has(y.peerId.toString()))
  const onQuery = (leaf: typeof x, id: Uint8Array): void => (s.svc as any).onQuery(links.get(leaf.peerId.toString()), { id, ttl: 3, hops: 0, text: 'relayed' })
  const ids = Array.from({ length: 5 }, (_, i) => new Uint8Array(16).fill(i + 1))
  for (const id of ids) onQuery(x, id)
  // y spends its own burst, then brings the same 5: not charged
  for (let i = 0; i < 5; i++) onQuery(y, randomBytes(16))
  for (const id of ids) onQuery(y, id)
  assert.equal(s.stats.get('supernode.droppedDuplicate'), 5)
  assert.equal(s.stats.get('supernode.droppedThrottled'), 0)
  // x repeating its own ids is charged
  for (const id of ids) onQuery(x, id)
  assert.equal(s.stats.get('supernode.droppedThrottled'), 5)
})

test('a neighbour gets a bounded number of relayed requests worked on at once; the rest are refused busy', async (t) => {
  const { root, net, node } = await lab(t)
  const s = await node({ role: 'super', config: { maxRelayPerLink: 2 } })
  const { cid } = await shareRandom(root, s, 'served-by-the-supernode.bin', 200_000)
  // a hand-made leaf: HELLO, then 20 range requests in one burst
  const id = fakePeerId()
  const framed = new FramedStream(await net.open(id, s.peerId, SUPERNODE_PROTOCOL), { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
  const status = { role: Role.LEAF, score: 0.1, leaves: 0, maxLeaves: 0, entry: { peerId: id.toString(), addrs: ['/ip4/127.0.0.1/tcp/1'] }, interests: [], supers: [] }
  await framed.write(encodeHello(Want.LEAF, status))
  const welcome = decodeMessage(await framed.read() as Uint8Array) as any
  assert.equal(welcome.type, SuperType.WELCOME)
  const requests = Array.from({ length: 20 }, (_, i) => encodeRelayRequest({ id: randomBytes(16), ttl: 5, target: s.peerId, cid, index: i % 13, offset: 0, length: 1024 }))
  await Promise.all(requests.map(async r => { await framed.write(r) }))
  const statuses: number[] = []
  while (statuses.length < 20) {
    const msg = decodeMessage(await framed.read() as Uint8Array) as any
    if (msg.type === MessageType.RELAY_REPLY) statuses.push(msg.status)
  }
  const busy = statuses.filter(x => x === RelayStatus.ERROR).length
  assert.ok(busy > 0, 'some requests were refused while two were in progress')
  assert.ok(statuses.filter(x => x === RelayStatus.OK).length >= 2, 'the first ones were served')
  assert.equal(s.stats.get('supernode.relayRefusedBusy'), busy)
  framed.abort(new Error('done'))
})
