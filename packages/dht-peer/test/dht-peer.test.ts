/**
 * The DHT mode on three real libp2p nodes in this process (core's createNode
 * with the mode's kad-dht service, real ContentStores): sharing provides the
 * CID and the keywords, another node finds and searches it, unsharing stops
 * providing (our own record goes; the holder then answers NOT_FOUND).
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { ContentStore, Stats, createNode, silentLogger, transfer } from '@sedai/core'
import { DhtPeer, countProviderRecords } from '../src/dht-peer.ts'
import type { TestContext } from 'node:test'

async function until (what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

async function peer (t: TestContext, bootstrap: string[]): Promise<{ mode: DhtPeer, store: ContentStore, node: any, components: () => any, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-dht-unit-'))
  const logger = silentLogger()
  const store = new ContentStore({ repo: dir, logger })
  await store.start()
  const stats = new Stats()
  const mode = new DhtPeer({ logger, repo: dir, bootstrap, modes: ['dht'] })
  let components: any
  const services = mode.services()
  const node = await createNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    services: {
      dht: (c: any) => { components = c; return services.dht(c) },
      transfer: transfer({ store, stats, logger })
    } as any
  })
  await mode.start({ node, store, transfer: (node.services as any).transfer, stats, logger, repo: dir, bootstrap, modes: ['dht'] })
  t.after(async () => { await mode.stop(); await node.stop(); await store.stop(); await rm(dir, { recursive: true, force: true }) })
  for (const a of bootstrap) await node.dial(multiaddr(a))
  return { mode, store, node, components: () => components, dir }
}

test('share -> provided (CID and keywords) -> found and searched from another node -> unshare stops it', async (t) => {
  const a = await peer(t, [])
  const boot = [a.node.getMultiaddrs()[0].toString()]
  const b = await peer(t, boot)
  const c = await peer(t, boot)
  await until('routing tables', 10_000, () => (b.mode.stats().routingTableSize as number) >= 1 && (c.mode.stats().routingTableSize as number) >= 1)

  await mkdir(join(b.dir, 'share'))
  const path = join(b.dir, 'share', '東京の地図 atlas.txt')
  await writeFile(path, 'a map of Tokyo\n'.repeat(1000))
  const shared = await b.store.share(path)
  b.mode.sharesChanged()
  await until('B to place its records', 15_000, () => {
    const s = b.mode.stats() as any
    return s.providing.files === 1 && s.providing.queued === 0 && s.providing.notYetPlaced === 0
  })
  const sb = b.mode.stats() as any
  assert.equal(sb.providing.keywords, 6) // 東京, 京の, の地, 地図, atlas, txt
  assert.ok(sb.provides.recordsPlaced >= 7, JSON.stringify(sb.provides))

  // C finds B by the CID, and the file by a Japanese and an ASCII word
  const sources = await c.mode.findProviders(shared.cid, { signal: AbortSignal.timeout(5000) })
  assert.deepEqual(sources.map(String), [b.node.peerId.toString()])
  for (const q of ['東京', '地図', 'ATLAS', '東京 atlas']) {
    const hits = await c.mode.search(q, { timeoutMs: 5000, signal: AbortSignal.timeout(5000) })
    assert.deepEqual(hits.map(h => [h.cid, h.name, h.providers.map(p => p.peerId)]), [[shared.cid, '東京の地図 atlas.txt', [b.node.peerId.toString()]]], q)
  }
  assert.deepEqual(await c.mode.search('大阪', { timeoutMs: 5000, signal: AbortSignal.timeout(5000) }), [])
  await assert.rejects(c.mode.search('!! ?', { timeoutMs: 5000, signal: AbortSignal.timeout(5000) }), { code: 'ERR_NO_KEYWORDS' })
  const sc = c.mode.stats() as any
  assert.ok(sc.lookups.found >= 5 && sc.search.keywordQueriesSent >= 4, JSON.stringify(sc))

  // records are spread: A and C hold B's records too (k = 20 > 3 nodes)
  const recA = await countProviderRecords(a.components())
  assert.equal(recA.keys, 7)
  assert.equal(recA.own, 0)
  assert.equal((await countProviderRecords(b.components())).own, 7)

  // unshare: B's own records go (no re-publishing); the keyword query now finds nothing at B
  assert.equal(b.store.unshare(shared.cid), true)
  b.mode.sharesChanged()
  await until('B to drop its own records', 5_000, async () => (await countProviderRecords(b.components())).own === 0)
  assert.equal((b.mode.stats() as any).provides.unprovided, 7)
  // the copies on A and C lapse with their validity (Kademlia has no delete) ...
  assert.equal((await countProviderRecords(a.components())).keys, 7)
  // ... but B answers NOT_FOUND, so the search is empty
  assert.deepEqual(await c.mode.search('東京', { timeoutMs: 5000, signal: AbortSignal.timeout(5000) }), [])
})

test('contactPings 0 (labs): a contact enters the routing table without a ping, a dead one too; by default a dead contact is pinged and kept out', async (t) => {
  const dead = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const before = process.env.SEDAI_DHT_CONTACT_PINGS
  process.env.SEDAI_DHT_CONTACT_PINGS = '0'
  let trusting
  try {
    trusting = await peer(t, [])
  } finally {
    if (before === undefined) delete process.env.SEDAI_DHT_CONTACT_PINGS; else process.env.SEDAI_DHT_CONTACT_PINGS = before
  }
  const pinging = await peer(t, [])
  for (const p of [trusting, pinging]) await p.node.services.dht.routingTable.add(dead)
  assert.equal(trusting.node.services.dht.routingTable.size, 1, 'taken without a ping')
  assert.equal(trusting.node.getConnections().length, 0, 'and without a dial')
  assert.equal(pinging.node.services.dht.routingTable.size, 0, 'the ping failed: kept out')
  // our own id never enters, trusted or not
  await trusting.node.services.dht.routingTable.add(trusting.node.peerId)
  assert.equal(trusting.node.services.dht.routingTable.size, 1)
})
