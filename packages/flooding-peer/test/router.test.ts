import assert from 'node:assert/strict'
import { test } from 'node:test'
import { QueryRouter, clampTtl } from '../src/router.ts'
import { LOCAL, SeenCache } from '../src/seen-cache.ts'
import { DEFAULTS, resolveConfig } from '../src/config.ts'

function router (now = (): number => 0): QueryRouter {
  return new QueryRouter({ maxTtl: 10, maxHitsPerQuery: 3, seenCacheSize: 100, seenTtlMs: 60_000, now })
}

test('DEFAULTS follow Gnutella 0.6: TTL 7, hard cap 10; env knobs override; nonsense is refused', () => {
  assert.equal(DEFAULTS.defaultTtl, 7)
  assert.equal(DEFAULTS.maxTtl, 10)
  const c = resolveConfig({}, { SEDAI_FLOOD_MIN_NEIGHBOURS: '0', SEDAI_FLOOD_MAX_NEIGHBOURS: '5', SEDAI_FLOOD_TTL: '3' })
  assert.deepEqual([c.minNeighbours, c.maxNeighbours, c.defaultTtl], [0, 5, 3])
  assert.equal(resolveConfig({ maxTtl: 200 }).maxTtl, 10, 'the hard cap cannot be raised')
  assert.throws(() => resolveConfig({}, { SEDAI_FLOOD_TTL: '11' }), { code: 'ERR_INVALID_OPTION' })
  assert.throws(() => resolveConfig({}, { SEDAI_FLOOD_MAX_NEIGHBOURS: 'many' }), { code: 'ERR_INVALID_OPTION' })
  assert.throws(() => resolveConfig({ minNeighbours: 5, maxNeighbours: 4 }), { code: 'ERR_INVALID_OPTION' })
})

test('clampTtl keeps TTL + hops within the hard cap', () => {
  assert.deepEqual(clampTtl(7, 0, 10), { ttl: 7, clamped: false })
  assert.deepEqual(clampTtl(255, 0, 10), { ttl: 10, clamped: true })
  assert.deepEqual(clampTtl(5, 8, 10), { ttl: 2, clamped: true })
  assert.deepEqual(clampTtl(5, 200, 10), { ttl: 0, clamped: true })
})

test('a query is answered and forwarded with TTL - 1, hops + 1; a repeat of its id is a duplicate', () => {
  const r = router()
  const d = r.onQuery('q1', 'A', 3, 0)
  assert.equal(d.action, 'accept')
  assert.deepEqual(d.action === 'accept' && d.forward, { ttl: 2, hops: 1 })
  const again = r.onQuery('q1', 'B', 3, 0)
  assert.equal(again.action, 'duplicate')
  assert.equal(again.entry.received, 2)
  assert.deepEqual([...again.entry.heardFrom], ['A', 'B'])
})

test('nothing is forwarded at TTL 0: TTL 1 is answered but not forwarded; TTL 0 on arrival is dropped', () => {
  const r = router()
  const last = r.onQuery('q1', 'A', 1, 4)
  assert.equal(last.action, 'accept')
  assert.equal(last.action === 'accept' && last.forward, undefined)
  assert.equal(r.onQuery('q2', 'A', 0, 4).action, 'expired')
  const hostile = r.onQuery('q3', 'A', 255, 0)
  assert.equal(hostile.action === 'accept' && hostile.clamped, true)
  assert.deepEqual(hostile.action === 'accept' && hostile.forward, { ttl: 9, hops: 1 })
})

test('forward targets: every neighbour but those that sent the query and those already sent to', () => {
  const r = router()
  const d = r.onQuery('q1', 'A', 5, 0)
  r.onQuery('q1', 'C', 5, 1) // C sent it too: C has it
  assert.deepEqual(r.forwardTargets(d.entry, ['A', 'B', 'C', 'D']), ['B', 'D'])
  assert.deepEqual(r.forwardTargets(d.entry, ['A', 'B', 'C', 'D', 'E']), ['E'], 'never twice over one link')
})

test('hits go back along the reverse path; unknown ids and hits beyond the bound are dropped', () => {
  const r = router()
  r.onQuery('q1', 'A', 5, 0)
  const mine = r.originate('q2', 99)
  assert.equal(mine.ttl, 10, 'a new query is capped at the hard cap')
  assert.deepEqual(r.onHit('q1'), { action: 'route', entry: r.seen.get('q1'), to: 'A' })
  assert.equal(r.onHit('q2').action, 'local')
  assert.equal(r.onHit('nope').action, 'unknown')
  r.onHit('q1'); r.onHit('q1')
  assert.equal(r.onHit('q1').action, 'overLimit')
})

test('the seen cache is bounded by size (oldest first) and by age', () => {
  let now = 0
  const seen = new SeenCache({ maxEntries: 3, maxAgeMs: 1000, now: () => now })
  for (const id of ['a', 'b', 'c', 'd']) seen.see(id, 'X', 7, 0)
  assert.equal(seen.get('a'), undefined)
  assert.equal(seen.size, 3)
  assert.equal(seen.get('d')?.from, 'X')
  now = 1001
  assert.equal(seen.get('d'), undefined, 'expired')
  assert.equal(seen.see('e', LOCAL, 7, 0).entry.received, 0)
  assert.deepEqual(seen.recent(1).map(([id]) => id), ['e'])
})
