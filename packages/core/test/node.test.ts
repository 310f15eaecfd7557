import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createNode } from '../src/node.ts'

test('createNode: two nodes on loopback connect over Noise + yamux and ping', async (t) => {
  const a = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const b = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.after(async () => { await a.stop(); await b.stop() })
  const conn = await b.dial(a.getMultiaddrs()[0])
  assert.equal(conn.remotePeer.toString(), a.peerId.toString())
  assert.equal(conn.encryption, '/noise')
  assert.equal(conn.multiplexer, '/yamux/1.0.0')
  const rtt = await b.services.ping.ping(a.peerId)
  assert.ok(rtt >= 0)
})

test('createNode: many loopback peers dialing at once are not refused (loopback allow list)', async (t) => {
  const hub = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const peers = await Promise.all(Array.from({ length: 12 }, async () => await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
  t.after(async () => { await Promise.all([hub, ...peers].map(async n => { await n.stop() })) })
  // libp2p's defaults refuse more than 5 inbound connections per second per host
  const results = await Promise.allSettled(peers.map(async p => await p.dial(hub.getMultiaddrs()[0])))
  assert.deepEqual(results.filter(r => r.status === 'rejected'), [])
  // the dialer may see its connection a moment before the hub has registered it
  for (let i = 0; i < 50 && hub.getConnections().length < 12; i++) await new Promise(resolve => setTimeout(resolve, 20))
  assert.equal(hub.getConnections().length, 12)
})
