/**
 * The publisher on a scripted kad-dht: its provide() events, its routing
 * table's size and cancelReprovide; nothing else of kad-dht is used.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { silentLogger } from '@sedai/core'
import { keywordCid } from '../src/keywords.ts'
import { Publisher } from '../src/publisher.ts'
import type { Wanted } from '../src/publisher.ts'

const path = { index: 0, queued: 0, running: 0, total: 1 }

function scripted (): { dht: any, provides: string[], cancelled: string[], table: { size: number } } {
  const provides: string[] = []
  const cancelled: string[] = []
  const table = { size: 10 }
  const dht = {
    routingTable: table,
    provide: async function * (cid: { toString: () => string }) {
      provides.push(cid.toString())
      for (let i = 0; i < 3; i++) yield { name: 'PEER_RESPONSE', messageName: 'ADD_PROVIDER', from: {}, path }
    },
    cancelReprovide: async (cid: { toString: () => string }) => { cancelled.push(cid.toString()) }
  }
  return { dht, provides, cancelled, table }
}

async function idle (p: Publisher): Promise<void> {
  while (p.stats().providing.queued > 0) await new Promise(resolve => setTimeout(resolve, 5))
}

test('records are provided once each; an unshared one is no longer re-provided; a grown routing table provides them again', async () => {
  const { dht, provides, cancelled, table } = scripted()
  const stop = new AbortController()
  const publisher = new Publisher({ dht, config: { provideConcurrency: 2, provideTimeoutMs: 1000 }, log: silentLogger(), join: { done: Promise.resolve(), state: { joined: true, attempts: 1, closest: 5 } }, signal: stop.signal })
  const a = keywordCid('alpha')
  const b = keywordCid('beta')
  const want = new Map<string, Wanted>([[a.toString(), { cid: a, kind: 'keyword' }], [b.toString(), { cid: b, kind: 'keyword' }]])
  publisher.sync(want)
  publisher.sync(want)
  await idle(publisher)
  assert.deepEqual(provides.sort(), [a.toString(), b.toString()].sort(), 'each once')
  assert.deepEqual(publisher.stats().providing, { files: 0, keywords: 2, notYetPlaced: 0, queued: 0 })
  assert.equal(publisher.stats().provides.recordsPlaced, 6)

  // the table grew from 10 to 14: not by half yet
  table.size = 14
  publisher.reprovideOnGrowth()
  await idle(publisher)
  assert.equal(provides.length, 2)
  // to 15: by half since the records were provided, so both go out again, to the k closest as they are now
  table.size = 15
  publisher.reprovideOnGrowth()
  await idle(publisher)
  assert.equal(provides.length, 4)
  assert.equal(publisher.stats().provides.reprovidedOnGrowth, 2)
  // and not again until it grows by half once more
  publisher.reprovideOnGrowth()
  await idle(publisher)
  assert.equal(provides.length, 4)

  publisher.sync(new Map([[a.toString(), { cid: a, kind: 'keyword' }]]))
  assert.deepEqual(cancelled, [b.toString()])
  assert.equal(publisher.stats().provides.unprovided, 1)
  publisher.stop()
  stop.abort()
})

test('no re-provide on growth before the join', async () => {
  const { dht, provides, table } = scripted()
  const stop = new AbortController()
  const join = { done: Promise.resolve(), state: { joined: true, attempts: 1, closest: 5 } }
  const publisher = new Publisher({ dht, config: { provideConcurrency: 2, provideTimeoutMs: 1000 }, log: silentLogger(), join, signal: stop.signal })
  const a = keywordCid('alpha')
  publisher.sync(new Map([[a.toString(), { cid: a, kind: 'keyword' }]]))
  await idle(publisher)
  join.state.joined = false
  table.size = 100
  publisher.reprovideOnGrowth()
  await idle(publisher)
  assert.equal(provides.length, 1)
  stop.abort()
})
