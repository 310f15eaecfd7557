import assert from 'node:assert/strict'
import { test } from 'node:test'
import { bytesServed, messageCount } from '../src/experiment.ts'

// stats shaped like `sedai stats` (packages/cli/src/daemon.ts): mode state and counters merged per mode
const stats = {
  messages: {
    flood: { out: { QUERY: 40, QUERY_HIT: 5, PING: 100 }, in: { QUERY: 38 } },
    supernode: { out: { QUERY: 7, QUERY_HIT: 2, STATUS: 50, INDEX: 3 } },
    directory: { in: { SEARCH: 10, REGISTER: 4, PING: 30 }, out: { SEARCH: 10, REGISTER: 4 } },
    dhtKeywords: { out: { QUERY: 3, RESULTS: 3 } }
  },
  dht: { lookups: { queriedTotal: 21, hopsTotal: 4 } },
  transfer: { bytesServed: 1000 },
  supernode: { bytesServed: { origin: 300, cache: 200, relayed: 999 } }
}

test('messages per query count query traffic only, per generation', () => {
  assert.equal(messageCount('flood', stats), 45, 'QUERY + QUERY_HIT sent; pings are maintenance')
  assert.equal(messageCount('supernode', stats), 9, 'STATUS and INDEX are maintenance')
  assert.equal(messageCount('directory', stats), 20, 'SEARCH in and out at the server')
  assert.equal(messageCount('dht', stats), 2 * 21 + 6, 'a request and a reply per queried peer, plus keyword messages')
  assert.equal(messageCount('flood', {}), 0)
})

test('bytes served: direct transfers plus in-band serving from store or cache, not relaying', () => {
  assert.equal(bytesServed(stats), 1500)
  assert.equal(bytesServed({}), 0)
})
