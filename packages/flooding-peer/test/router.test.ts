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
  assert.deepEqual([...again.entry.heardFrom], [['A', 3], ['B', 3]])
})

test('a later copy with a higher TTL is forwarded again, not answered again (gtk-gnutella "dup with higher TTL")', () => {
  const r = router()
  // the copy over a longer path came first, with TTL 1 left: answered, not forwarded
  const first = r.onQuery('q1', 'A', 1, 4)
  assert.equal(first.action, 'accept')
  assert.equal(first.action === 'accept' && first.forward, undefined)
  // the shorter path's copy, with TTL 3: forwarded with TTL 2 to every neighbour that gains from it
  const higher = r.onQuery('q1', 'B', 3, 2)
  assert.equal(higher.action, 'higherTtl')
  assert.deepEqual(higher.action === 'higherTtl' && higher.forward, { ttl: 2, hops: 3 })
  assert.equal(higher.entry.from, 'A', 'hits still go back the way the first copy came')
  assert.deepEqual(r.forwardTargets(higher.entry, ['A', 'B', 'C'], 2), ['C'], 'A holds it with TTL 2 (it sent us 1): ours with 2 would not help it; B sent us 3')
  // equal or lower TTL: a plain duplicate
  assert.equal(r.onQuery('q1', 'C', 3, 2).action, 'duplicate')
  assert.equal(r.onQuery('q1', 'D', 2, 2).action, 'duplicate')
  assert.equal(r.seen.get('q1')?.maxTtl, 3)
})

test('a first copy at TTL 0 is dropped unanswered; a later copy with TTL is then the first that counts', () => {
  const r = router()
  assert.equal(r.onQuery('q1', 'A', 0, 5).action, 'expired')
  const later = r.onQuery('q1', 'B', 2, 1)
  assert.equal(later.action, 'accept', 'answered: nobody answered the expired copy')
  assert.equal(later.entry.from, 'B', 'its hits go back to B')
  assert.deepEqual(later.action === 'accept' && later.forward, { ttl: 1, hops: 2 })
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

test('forward targets: every neighbour but those that hold the query with as much TTL, and a link again only with more', () => {
  const r = router()
  const d = r.onQuery('q1', 'A', 5, 0)
  r.onQuery('q1', 'C', 4, 1) // C sent it too, with 4: it holds 5, and our 4 would not help it
  assert.deepEqual(r.forwardTargets(d.entry, ['A', 'B', 'C', 'D'], 4), ['B', 'D'])
  assert.deepEqual(r.forwardTargets(d.entry, ['A', 'B', 'C', 'D', 'E'], 4), ['E'], 'never twice over one link with the same TTL')
  r.onQuery('q1', 'F', 1, 3) // F got it over a long path: it holds 2
  assert.deepEqual(r.forwardTargets(d.entry, ['F'], 4), ['F'], 'our TTL 4 reaches further than its 2')
  assert.deepEqual(r.forwardTargets(d.entry, ['B', 'E'], 6), ['B', 'E'], 'a higher TTL goes again over a link')
  assert.deepEqual(d.entry.sentTo.get('B'), 0, 'first sends are counted when written (QueryFlood.countSent)')
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
