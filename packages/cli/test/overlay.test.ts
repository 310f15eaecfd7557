import assert from 'node:assert/strict'
import { test } from 'node:test'
import { buildOverlay } from '../src/overlay.ts'
import type { Mode } from '@sedai/core'

const SELF = 'self-peer'

function mode (name: string, parts: Partial<Mode>): Mode {
  return { name, start: async () => {}, stop: async () => {}, ...parts }
}

test('flood neighbours, supernode links, the directory server and DHT buckets become nodes and edges from this node', () => {
  const overlay = buildOverlay({
    self: SELF,
    connected: ['n1', 'n2', 'sn', 'leaf1', 'dir', 'stranger'],
    modes: [
      mode('flood', { info: () => ({ neighbours: ['n1', 'n2'] }) }),
      mode('supernode', {
        info: () => ({ role: 'super', supernodes: ['sn'] }),
        peerInfo: (p) => p === 'leaf1' ? { role: 'leaf', link: 'leaf' } : p === 'sn' ? { role: 'super', link: 'super' } : undefined
      }),
      mode('directory', { info: () => ({ role: 'peer', server: '/ip4/127.0.0.1/tcp/1/p2p/dir', state: 'online' }) }),
      mode('dht', { overlay: () => [{ peerId: 'd1', kind: 'dht', bucket: 3 }, { peerId: 'd2', kind: 'dht', bucket: 3 }, { peerId: 'n1', kind: 'dht', bucket: 7 }] })
    ]
  })
  const kinds = Object.fromEntries(overlay.nodes.map(n => [n.id, n.kind]))
  assert.deepEqual(kinds, { [SELF]: 'self', dir: 'directory-server', sn: 'supernode', leaf1: 'leaf', n1: 'neighbour', n2: 'neighbour', d1: 'dht', d2: 'dht', stranger: 'connection' })
  assert.equal(overlay.role, 'super')
  assert.deepEqual(overlay.nodes.find(n => n.id === 'n1')?.kinds, ['neighbour', 'dht'])
  assert.equal(overlay.nodes.find(n => n.id === 'd1')?.connected, false)
  assert.equal(overlay.nodes.find(n => n.id === 'leaf1')?.role, 'leaf')
  // one edge per peer and kind, all from this node
  assert.equal(overlay.edges.length, 9)
  assert.ok(overlay.edges.every(e => e.source === SELF))
  assert.deepEqual(overlay.buckets, [{ bucket: 3, contacts: 2 }, { bucket: 7, contacts: 1 }])
})

test('a mode whose report throws is left out; the same state gives the same JSON', () => {
  const init = {
    self: SELF,
    connected: ['b', 'a'],
    modes: [mode('flood', { info: () => { throw new Error('boom') } }), mode('dht', { overlay: () => [{ peerId: 'a', kind: 'dht' as const, bucket: 1 }] })]
  }
  const one = buildOverlay(init)
  assert.deepEqual(one.nodes.map(n => [n.id, n.kind]), [[SELF, 'self'], ['a', 'dht'], ['b', 'connection']])
  assert.equal(JSON.stringify(buildOverlay({ ...init, connected: ['a', 'b'] })), JSON.stringify(one))
})
