/**
 * The lookup watcher on scripted kad-dht query events (the events kad-dht
 * yields for findProviders; only the DHT is replaced, through the narrow
 * `findProviders` interface the watcher takes).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { keywordCid } from '../src/keywords.ts'
import { adaptiveSettle, findProvidersTracked, percentile } from '../src/lookup.ts'
import type { PeerId } from '@libp2p/interface'

async function ids (n: number): Promise<PeerId[]> {
  return await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}
const path = { index: 0, queued: 0, running: 0, total: 1 }

test('hops follow the chain of closer-peer replies to the peer that had the record', async () => {
  const [self, a, b, c, prov] = await ids(5)
  const events = [
    { name: 'SEND_QUERY', to: a, path },
    { name: 'PEER_RESPONSE', from: a, closer: [{ id: b, multiaddrs: [] }], providers: [], path },
    { name: 'SEND_QUERY', to: b, path },
    { name: 'PEER_RESPONSE', from: b, closer: [{ id: c, multiaddrs: [] }], providers: [], path },
    { name: 'SEND_QUERY', to: c, path },
    { name: 'PEER_RESPONSE', from: c, closer: [], providers: [{ id: prov, multiaddrs: [] }], path },
    { name: 'PROVIDER', from: c, providers: [{ id: prov, multiaddrs: [] }], path }
  ]
  const dht = { findProviders: async function * () { yield * events as any[] } }
  const r = await findProvidersTracked(dht as any, keywordCid('x'), { self, maxProviders: 20 })
  assert.equal(r.hops, 3)
  assert.equal(r.queried, 3)
  assert.deepEqual(r.providers.map(p => p.id.toString()), [prov.toString()])
  assert.equal(r.self, false)
  assert.ok(r.firstProviderMs !== undefined)
})

test('a record in our own store is 0 hops; our own id is reported as `self`, not as a provider', async () => {
  const [self, prov] = await ids(2)
  const events = [
    { name: 'PROVIDER', from: self, providers: [{ id: self, multiaddrs: [] }, { id: prov, multiaddrs: [] }], path }
  ]
  const dht = { findProviders: async function * () { yield * events as any[] } }
  const r = await findProvidersTracked(dht as any, keywordCid('x'), { self, maxProviders: 20 })
  assert.equal(r.hops, 0)
  assert.equal(r.self, true)
  assert.equal(r.providers.length, 1)
})

test('with settleMs, the lookup stops that long after the first provider, keeping what it found', async () => {
  const [self, a, prov] = await ids(3)
  const dht = {
    findProviders: async function * (_key: unknown, opts: { signal: AbortSignal }) {
      yield { name: 'PROVIDER', from: a, providers: [{ id: prov, multiaddrs: [] }], path }
      // a query that would go on for a long time, but honours its signal like kad-dht's
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 10_000)
        opts.signal.addEventListener('abort', () => { clearTimeout(timer); reject(opts.signal.reason) })
      })
    }
  }
  const started = Date.now()
  let settleAsked: number | undefined
  const r = await findProvidersTracked(dht as any, keywordCid('x'), { self, maxProviders: 20, settleMs: first => { settleAsked = first; return 100 } })
  assert.ok(Date.now() - started < 2000)
  assert.equal(r.providers.length, 1)
  assert.equal(r.hops, 1)
  assert.equal(r.ended, 'settled')
  assert.equal(settleAsked, r.firstProviderMs, 'the settle time is asked with the time to the first provider')
})

test('each provider is handed on the moment it is named; the caller\'s signal ends the walk with what was found', async () => {
  const [self, a, b, p1, p2] = await ids(5)
  const done = new AbortController()
  const seen: string[] = []
  const dht = {
    findProviders: async function * (_key: unknown, opts: { signal: AbortSignal }) {
      yield { name: 'PROVIDER', from: self, providers: [{ id: p1, multiaddrs: [] }], path }
      yield { name: 'SEND_QUERY', to: a, path }
      yield { name: 'PEER_RESPONSE', from: a, closer: [{ id: b, multiaddrs: [] }], providers: [], path }
      yield { name: 'PROVIDER', from: b, providers: [{ id: p1, multiaddrs: [] }, { id: p2, multiaddrs: [] }], path }
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 10_000)
        opts.signal.addEventListener('abort', () => { clearTimeout(timer); reject(opts.signal.reason) })
      })
    }
  }
  const started = Date.now()
  const r = await findProvidersTracked(dht as any, keywordCid('x'), {
    self,
    maxProviders: 20,
    signal: done.signal,
    onProvider: (p, hops) => {
      seen.push(`${p.id.toString() === p1.toString() ? 'p1' : 'p2'}@${hops}`)
      if (seen.length === 2) done.abort()
    }
  })
  assert.deepEqual(seen, ['p1@0', 'p2@2'], 'each once, as named: p1 from our own store (0 hops), p2 from b (learned from a)')
  assert.equal(r.ended, 'signal')
  assert.equal(r.providers.length, 2)
  assert.ok(Date.now() - started < 2000)
})

test('maxProviders ends the walk; a provider past it is not handed on', async () => {
  const [self, a, p1, p2] = await ids(4)
  const dht = { findProviders: async function * () { yield { name: 'PROVIDER', from: a, providers: [{ id: p1, multiaddrs: [] }, { id: p2, multiaddrs: [] }], path } } }
  const seen: string[] = []
  const r = await findProvidersTracked(dht as any, keywordCid('x'), { self, maxProviders: 1, onProvider: p => seen.push(p.id.toString()) })
  assert.deepEqual(seen, [p1.toString()])
  assert.equal(r.ended, 'maxProviders')
})

test('adaptiveSettle: as long again as the first provider took, within its bounds', () => {
  const settle = adaptiveSettle(10, 300)
  assert.equal(settle(1), 10)
  assert.equal(settle(42), 42)
  assert.equal(settle(5000), 300)
})

test('a query error that is not our abort propagates', async () => {
  const [self] = await ids(1)
  const dht = { findProviders: async function * () { yield * []; throw new Error('boom') } }
  await assert.rejects(findProvidersTracked(dht as any, keywordCid('x'), { self, maxProviders: 20 }), /boom/)
})

test('percentile: nearest rank', () => {
  assert.equal(percentile([], 50), undefined)
  assert.equal(percentile([5, 1, 3], 50), 3)
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99), 10)
  assert.equal(percentile([1, 2, 3, 4], 50), 2)
})

test('afterLocal runs when our own store has answered, and the walk waits for it before its first RPC', async () => {
  const [self, a, prov] = await ids(3)
  const events: string[] = []
  const dht = {
    findProviders: async function * () {
      yield { name: 'PROVIDER', from: self, providers: [{ id: prov, multiaddrs: [] }], path }
      events.push('walk: SEND_QUERY')
      yield { name: 'SEND_QUERY', to: a, path }
    }
  }
  await findProvidersTracked(dht as any, keywordCid('x'), {
    self,
    maxProviders: 20,
    onProvider: () => { events.push('provider') },
    afterLocal: async () => { await new Promise(resolve => setTimeout(resolve, 20)); events.push('afterLocal done') }
  })
  assert.deepEqual(events, ['provider', 'afterLocal done', 'walk: SEND_QUERY'])
})
