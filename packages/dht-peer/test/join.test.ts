/**
 * The join on a scripted kad-dht (its routing table size and its
 * getClosestPeers query events; nothing else of kad-dht is used by the join).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { silentLogger } from '@sedai/core'
import { Join } from '../src/join.ts'
import type { PeerId } from '@libp2p/interface'

const path = { index: 0, queued: 0, running: 0, total: 1 }

async function ids (n: number): Promise<PeerId[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

/** A kad-dht whose successive self lookups end with these peers (undefined: the lookup throws). */
function scripted (rounds: Array<PeerId[] | undefined>, table = { size: 0 }): { dht: any, table: { size: number }, lookups: () => number } {
  let lookups = 0
  const dht = {
    routingTable: table,
    getClosestPeers: async function * () {
      const round = rounds[Math.min(lookups++, rounds.length - 1)]
      if (round === undefined) throw new Error('the query timed out')
      for (const id of round) yield { name: 'FINAL_PEER', from: id, peer: { id, multiaddrs: [] }, path }
    }
  }
  return { dht, table, lookups: () => lookups }
}

test('a self lookup that fails or finds nobody is not a join; one with fewer than k is repeated until the set stops growing', async () => {
  const [self, a, b] = await ids(3)
  const { dht, table, lookups } = scripted([undefined, [], [a], [a, b], [a, b]])
  const dialled: string[] = []
  const stop = new AbortController()
  const join = new Join({
    dht,
    dial: async (addr) => { dialled.push(addr); table.size = 1 },
    bootstrap: ['/ip4/127.0.0.1/tcp/1'],
    self,
    k: 20,
    signal: stop.signal,
    log: silentLogger(),
    retryMinMs: 10,
    settleMs: 10
  })
  assert.equal(join.state.joined, false)
  await join.done
  assert.equal(join.state.joined, true)
  assert.equal(lookups(), 5, 'failed, empty, {a}, {a, b}, {a, b} again: joined')
  assert.equal(join.state.closest, 2)
  assert.ok(dialled.length >= 1)
  stop.abort()
})

test('k peers in one self lookup is a join at once', async () => {
  const peers = await ids(4)
  const { dht, table, lookups } = scripted([peers.slice(1)])
  const stop = new AbortController()
  const join = new Join({ dht, dial: async () => { table.size = 3 }, bootstrap: ['/ip4/127.0.0.1/tcp/1'], self: peers[0], k: 3, signal: stop.signal, log: silentLogger(), settleMs: 10 })
  await join.done
  assert.equal(join.state.joined, true)
  assert.equal(lookups(), 1)
  stop.abort()
})

test('an island: a newcomer that dialled us fills our table, but the bootstrap peers are dialled until one answers', async () => {
  const [self, newcomer, far] = await ids(3)
  // the newcomer is in the table from the start (it dialled us); our bootstrap peer is not up for the first two rounds
  const { dht, table } = scripted([[newcomer, far]], { size: 1 })
  let dials = 0
  const stop = new AbortController()
  const join = new Join({
    dht,
    dial: async () => { if (++dials < 3) throw new Error('ECONNREFUSED'); table.size = 2 },
    bootstrap: ['/ip4/127.0.0.1/tcp/1'],
    self,
    k: 2,
    signal: stop.signal,
    log: silentLogger()
  })
  await join.done
  assert.equal(dials, 3, 'the lookup waited for the bootstrap peer, not only for a non-empty table')
  assert.equal(join.state.joined, true)
  stop.abort()
})

test('with no peer and no bootstrap the join waits, not joined, until the mode stops', async () => {
  const [self] = await ids(1)
  const stop = new AbortController()
  const join = new Join({ dht: scripted([[]]).dht, dial: async () => {}, bootstrap: [], self, k: 20, signal: stop.signal, log: silentLogger() })
  setTimeout(() => { stop.abort() }, 100)
  await join.done
  assert.deepEqual(join.state, { joined: false, attempts: 0, closest: 0 })
})

test('an island whose bootstrap peers never answered is not joined, however stable; it joins once one answers, and keeps looking while its table is small', async () => {
  const [self, islander, other] = await ids(3)
  // the self lookups find only the islander until the bootstrap peer is up; then the islander and the other peer
  let up = false
  const table = { size: 1 }
  let lookups = 0
  const dht = {
    routingTable: table,
    getClosestPeers: async function * () {
      lookups++
      const found = up ? [islander, other] : [islander]
      for (const id of found) yield { name: 'FINAL_PEER', from: id, peer: { id, multiaddrs: [] }, path }
    }
  }
  const stop = new AbortController()
  const join = new Join({
    dht: dht as any,
    dial: async () => { if (!up) throw new Error('ECONNREFUSED') },
    bootstrap: ['/ip4/127.0.0.1/tcp/1'],
    self,
    k: 20,
    signal: stop.signal,
    log: silentLogger(),
    settleMs: 20
  })
  await new Promise(resolve => setTimeout(resolve, 1_500))
  assert.equal(join.state.joined, false, `${lookups} self lookups, all {islander}, and no bootstrap peer answered`)
  up = true
  table.size = 2
  await join.done
  assert.equal(join.state.joined, true)
  assert.equal(join.state.closest, 2)
  const afterJoin = lookups
  await new Promise(resolve => setTimeout(resolve, 200))
  assert.ok(lookups > afterJoin, 'a table below k is looked after: more self lookups after the join')
  stop.abort()
})
