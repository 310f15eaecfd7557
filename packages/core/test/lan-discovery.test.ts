/**
 * LAN discovery without multicast: the tests run on the host's own
 * interfaces, where mDNS would leave the machine. A fake discovery stands in
 * for @libp2p/mdns and announces peers the way it does (a `peer` event with
 * the addresses, no /p2p/ suffix); the docker lab runs the real one
 * (scripts/compose-lab.sh).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerDiscoverySymbol } from '@libp2p/interface'
import { DEFAULTS } from '../src/config.ts'
import { LanDiscovery, lanDiscovery } from '../src/lan-discovery.ts'
import { createNode } from '../src/node.ts'
import type { PeerDiscovery, PeerInfo } from '@libp2p/interface'
import type { SedaiLibp2p } from '../src/node.ts'

/** Stands in for @libp2p/mdns: `announce` is an mDNS answer arriving. */
class FakeDiscovery extends EventTarget {
  readonly [peerDiscoverySymbol] = this
  readonly [Symbol.toStringTag] = 'fake-discovery'
  started = 0
  stopped = 0
  async start (): Promise<void> { this.started++ }
  async stop (): Promise<void> { this.stopped++ }
  announce (node: SedaiLibp2p, multiaddrs = node.getMultiaddrs()): void {
    const detail: PeerInfo = { id: node.peerId, multiaddrs: multiaddrs.map(ma => ma.decapsulateCode(421)) }
    this.dispatchEvent(new CustomEvent('peer', { detail }))
  }
}

async function until (what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(20)
  }
}

test('LAN discovery dials each peer it finds once (libp2p itself only stores the addresses), and ignores itself', async (t) => {
  const fake = new FakeDiscovery()
  const a = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const b = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: { discovery: () => fake as unknown as PeerDiscovery } })
  t.after(async () => { await a.stop(); await b.stop() })
  const lan = (b.services as { lan?: LanDiscovery }).lan
  assert.ok(lan instanceof LanDiscovery)
  assert.equal(fake.started, 1, 'the discovery starts with the node')
  const found: string[] = []
  const dials: Array<{ peerId: string, ok: boolean }> = []
  lan.addEventListener('found', (evt) => { found.push((evt as CustomEvent).detail.peerId) })
  lan.addEventListener('dial', (evt) => { dials.push((evt as CustomEvent).detail) })

  fake.announce(b)
  fake.announce(a)
  await until('B connected to A', () => b.getConnections(a.peerId).length > 0)
  assert.deepEqual(found, [a.peerId.toString()], 'B itself is not a LAN peer')
  await until('the dial reported', () => dials.length === 1)
  assert.deepEqual(dials, [{ peerId: a.peerId.toString(), ok: true }])
  // libp2p kept the addresses too (the service is a peer discovery to it)
  assert.ok((await b.peerStore.get(a.peerId)).addresses.length > 0)

  // mDNS answers again every interval: a connected peer is neither found again nor dialled again
  fake.announce(a)
  await sleep(100)
  assert.deepEqual(lan.counts, { found: 1, dials: 1, dialFailures: 0 })

  // a peer that went away is dialled again at its next answer; a dial that fails is counted and reported
  const addrsOfA = a.getMultiaddrs()
  await a.stop()
  await until('A gone', () => b.getConnections(a.peerId).length === 0)
  fake.announce(a, addrsOfA)
  await until('the second dial reported', () => dials.length === 2)
  assert.equal(dials[1].ok, false)
  assert.deepEqual(lan.counts, { found: 1, dials: 2, dialFailures: 1 })

  await b.stop()
  assert.equal(fake.stopped, 1, 'the discovery stops with the node')
})

test('createNode: mdns configures @libp2p/mdns with sedai\'s service tag; without it there is no LAN discovery', async () => {
  // start: false, so nothing is sent: multicast on the host's interfaces would leave the machine
  const on = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: true, start: false })
  const lan = (on.services as { lan?: LanDiscovery }).lan
  assert.ok(lan instanceof LanDiscovery)
  assert.equal(lan.isStarted(), false)
  const source = lan.source as unknown as { [Symbol.toStringTag]: string, serviceTag: string, interval: number, isStarted: () => boolean }
  assert.equal(source[Symbol.toStringTag], '@libp2p/mdns')
  assert.equal(source.serviceTag, DEFAULTS.mdnsServiceTag)
  assert.equal(source.interval, DEFAULTS.mdnsIntervalMs)
  assert.equal(source.isStarted(), false)
  assert.equal(lan[peerDiscoverySymbol], lan.source, 'libp2p is handed the mDNS emitter, so it stores what mDNS finds')

  const tuned = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: { intervalMs: 2_000 }, start: false })
  assert.equal(((tuned.services as { lan?: LanDiscovery }).lan?.source as unknown as { interval: number }).interval, 2_000)

  for (const mdns of [undefined, false]) {
    const off = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns, start: false })
    assert.equal((off.services as { lan?: LanDiscovery }).lan, undefined, String(mdns))
  }
  assert.equal(typeof lanDiscovery(), 'function')
})
