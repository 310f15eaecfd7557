import assert from 'node:assert/strict'
import { test } from 'node:test'
import { HostCache, Neighbour } from '../src/neighbours.ts'
import { MessageType, decodeMessage } from '../src/protocol/messages.ts'
import type { Outgoing } from '../src/neighbours.ts'
import type { FramedStream } from '@sedai/core'

/** A framed stream whose writes wait until released: a neighbour that does not read. */
function stalledStream (): { framed: FramedStream, written: Uint8Array[], release: () => void, closed: () => boolean } {
  const written: Uint8Array[] = []
  let open: (() => void) | undefined
  let gate = new Promise<void>(resolve => { open = resolve })
  let closed = false
  const framed = {
    write: async (b: Uint8Array) => { await gate; written.push(b) },
    close: async () => { closed = true },
    abort: () => { closed = true }
  } as unknown as FramedStream
  return { framed, written, release: () => { open?.(); gate = Promise.resolve() }, closed: () => closed }
}

function neighbour (framed: FramedStream, over: Partial<ConstructorParameters<typeof Neighbour>[0]> = {}, shed: Outgoing[] = []): Neighbour {
  return new Neighbour({
    peerId: 'P',
    framed,
    outbound: true,
    sendQueueSize: 3,
    queryRatePerSec: 10,
    queryBurst: 5,
    maxThrottledPerWindow: 4,
    floodWindowMs: 1000,
    onSent: () => {},
    onShed: (_n, m) => { shed.push(m) },
    ...over
  })
}

const q = (i: number): Outgoing => ({ type: MessageType.QUERY, bytes: Uint8Array.of(3, i) })
const hit = (i: number): Outgoing => ({ type: MessageType.QUERY_HIT, bytes: Uint8Array.of(4, i) })

test('a full send queue sheds queries first: a new query is refused, a hit takes the oldest query\'s place', async () => {
  const s = stalledStream()
  const shed: Outgoing[] = []
  const n = neighbour(s.framed, {}, shed)
  void n.run()
  assert.equal(n.send(q(0)), true) // taken by the writer, stuck in write()
  await new Promise(resolve => setImmediate(resolve))
  assert.equal(n.send(q(1)), true)
  assert.equal(n.send(q(2)), true)
  assert.equal(n.send(hit(3)), true)
  assert.equal(n.queued, 3)
  assert.equal(n.send(q(4)), false, 'a query is refused when the queue is full')
  assert.equal(n.send(hit(5)), true, 'a hit evicts the oldest queued query')
  assert.equal(n.send(hit(6)), true)
  assert.equal(n.send(hit(7)), false, 'no query left to shed: the hit itself is refused')
  assert.deepEqual(shed.map(m => m.bytes[1]), [4, 1, 2, 7])
  s.release()
  n.close()
  await n.run()
  assert.deepEqual(s.written.slice(0, 4).map(b => b[1]), [0, 3, 5, 6])
  assert.equal(s.written.length, 5)
  assert.equal(decodeMessage(s.written[4]).type, MessageType.BYE, 'BYE goes last, then the stream closes')
  assert.ok(s.closed())
})

test('query rate: a burst passes, then the neighbour is throttled, then dropped', () => {
  let now = 0
  const n = neighbour(stalledStream().framed, { now: () => now })
  const got = Array.from({ length: 5 }, () => n.admitQuery())
  assert.deepEqual(got, ['ok', 'ok', 'ok', 'ok', 'ok'])
  assert.equal(n.admitQuery(), 'throttled')
  assert.equal(n.throttled, true)
  now = 100 // 10/s refills one token in 100 ms
  assert.equal(n.admitQuery(), 'ok')
  for (let i = 0; i < 3; i++) assert.equal(n.admitQuery(), 'throttled')
  assert.equal(n.admitQuery(), 'drop', 'more than 4 throttled in the window')
  assert.equal(n.throttledQueries, 5)
})

test('host cache: bounded, newest first, skips failed peers until retry', () => {
  const h = new HostCache(2)
  h.add({ peerId: 'A', addrs: ['/ip4/1.1.1.1/tcp/1'] })
  h.add({ peerId: 'B', addrs: ['/ip4/1.1.1.2/tcp/1'] })
  h.add({ peerId: 'C', addrs: ['/ip4/1.1.1.3/tcp/1'] })
  h.add({ peerId: 'D', addrs: [] }) // nothing to dial: not kept
  assert.equal(h.size, 2)
  assert.deepEqual(h.candidates(5, 0, 100, () => true).map(e => e.peerId), ['C', 'B'])
  h.failed('C', 0)
  assert.deepEqual(h.candidates(5, 50, 100, () => true).map(e => e.peerId), ['B'])
  assert.deepEqual(h.candidates(5, 150, 100, id => id !== 'B').map(e => e.peerId), ['C'])
  assert.deepEqual(h.sample(5, id => id === 'C').map(e => e.peerId), ['B'])
})

test('cancelQuery drops queued, unwritten copies of a query the neighbour already holds with as much TTL', async () => {
  const s = stalledStream()
  const n = neighbour(s.framed, { sendQueueSize: 8 })
  void n.run()
  assert.equal(n.send({ ...q(0), queryId: 'aa', queryTtl: 3 }), true) // taken by the writer, stuck in write()
  await new Promise(resolve => setImmediate(resolve))
  assert.equal(n.send({ ...q(1), queryId: 'bb', queryTtl: 3 }), true)
  assert.equal(n.send({ ...q(2), queryId: 'cc', queryTtl: 3 }), true)
  assert.equal(n.send({ ...q(3), queryId: 'dd', queryTtl: 5 }), true)
  assert.equal(n.cancelQuery('bb', 3), true)
  assert.equal(n.cancelQuery('bb', 3), false, 'only one copy was queued')
  assert.equal(n.cancelQuery('aa', 3), false, 'a copy already being written cannot be taken back')
  assert.equal(n.cancelQuery('dd', 4), false, 'ours carries more TTL than it holds: it still helps')
  s.release()
  n.close()
  await n.run()
  assert.deepEqual(s.written.slice(0, 3).map(b => b[1]), [0, 2, 3])
})
