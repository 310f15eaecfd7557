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

const path = { index: 0, queued: 0, running: 0, total: 1 }

test('a self lookup that fails or finds nobody is not a join: it is tried again until one converges with peers', async () => {
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const table = { size: 0 }
  const dialled: string[] = []
  let lookups = 0
  const dht = {
    routingTable: table,
    getClosestPeers: async function * () {
      lookups++
      if (lookups === 1) throw new Error('the query timed out')
      if (lookups === 2) return // converged with nobody
      yield { name: 'FINAL_PEER', from: other, peer: { id: other, multiaddrs: [] }, path }
    }
  }
  const stop = new AbortController()
  const join = new Join({
    dht: dht as any,
    dial: async (addr) => { dialled.push(addr); table.size = 1 },
    bootstrap: ['/ip4/127.0.0.1/tcp/1'],
    self,
    signal: stop.signal,
    log: silentLogger(),
    retryMinMs: 10
  })
  assert.equal(join.state.joined, false)
  await join.done
  assert.deepEqual(join.state.joined, true)
  assert.equal(join.state.attempts, 3, 'failed, empty, joined')
  assert.equal(join.state.closest, 1)
  assert.deepEqual(dialled, ['/ip4/127.0.0.1/tcp/1'], 'the bootstrap peer was redialled until the table had someone')
  stop.abort()
})

test('with no peer and no bootstrap the join waits, not joined, until the mode stops', async () => {
  const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  const stop = new AbortController()
  const join = new Join({
    dht: { routingTable: { size: 0 }, getClosestPeers: async function * () {} } as any,
    dial: async () => {},
    bootstrap: [],
    self,
    signal: stop.signal,
    log: silentLogger()
  })
  setTimeout(() => { stop.abort() }, 100)
  await join.done
  assert.deepEqual(join.state, { joined: false, attempts: 0, closest: 0 })
})
