import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { KEEP_ALIVE } from '@libp2p/interface'
import { createNode } from '../src/node.ts'
import type { IdleConnectionReaper } from '../src/idle-reaper.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

test('idle reaper: closes a connection idle past idleConnectionMs, keeps KEEP_ALIVE peers and busy connections', { timeout: 30_000 }, async (t) => {
  const hub = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], idleConnectionMs: 400 })
  const [idle, kept, busy] = await Promise.all([0, 1, 2].map(async () => await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })))
  const plain = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.after(async () => { await Promise.all([hub, idle, kept, busy, plain].map(async n => { await n.stop() })) })
  for (const n of [idle, kept, busy]) await hub.dial(n.getMultiaddrs()[0])
  await hub.peerStore.merge(kept.peerId, { tags: { [KEEP_ALIVE]: { value: 1 } } })
  // a stream held open on the busy connection
  // the remote ends its side at once: the stream lasts until the hub closes its own
  await busy.handle('/sedai-test/hold/1.0.0', (s) => { void s.close() })
  const stream = await hub.dialProtocol(busy.peerId, '/sedai-test/hold/1.0.0')
  // without the option there is no reaper, and connections stay
  await plain.dial(idle.getMultiaddrs()[0])
  assert.equal((plain.services as Record<string, unknown>).idleReaper, undefined)

  const connected = (n: typeof hub, peer: typeof idle): boolean => n.getConnections(peer.peerId).some(c => c.status === 'open')
  for (let i = 0; i < 60 && connected(hub, idle); i++) await sleep(50)
  assert.equal(connected(hub, idle), false, 'the idle connection was closed')
  assert.equal(connected(hub, kept), true, 'a KEEP_ALIVE peer stays connected')
  assert.equal(connected(hub, busy), true, 'a connection with an open stream stays')
  assert.equal(connected(plain, idle), true, 'a node without the option keeps its idle connection')
  assert.equal(((hub.services as Record<string, unknown>).idleReaper as IdleConnectionReaper).reaped, 1)
  // once the stream closes, the busy connection goes idle and is closed too
  await stream.close()
  for (let i = 0; i < 60 && connected(hub, busy); i++) await sleep(50)
  assert.equal(connected(hub, busy), false)
  assert.equal(connected(hub, kept), true)
})
