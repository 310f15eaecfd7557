import assert from 'node:assert/strict'
import { test } from 'node:test'
import { capacityScore, leafCapacity } from '../src/capacity.ts'
import { DEFAULTS, resolveConfig } from '../src/config.ts'
import { elect } from '../src/election.ts'
import { InvalidOptionError } from '@sedai/core'

const base = { since: 0, now: 60_000, leaves: 0, supers: [] as Array<{ leaves: number, maxLeaves: number }> }
const room = { leaves: 1, maxLeaves: 40 }
const full = { leaves: 40, maxLeaves: 40 }

test('capacity score: bandwidth dominates; without a measurement no node reaches the threshold', () => {
  const rich = capacityScore({ uploadBytesPerSec: 50 * 1024 * 1024, idleCpus: 0, uptimeMs: 0, dialable: true }, DEFAULTS)
  const capped = capacityScore({ uploadBytesPerSec: 100 * 1024, idleCpus: 0, uptimeMs: 0, dialable: true }, DEFAULTS)
  const unmeasured = capacityScore({ idleCpus: 64, uptimeMs: 10 * 3600_000, dialable: true }, DEFAULTS)
  assert.ok(rich >= DEFAULTS.superThreshold, `rich ${rich}`)
  assert.ok(capped < DEFAULTS.superThreshold, `capped ${capped}`)
  assert.ok(unmeasured < DEFAULTS.superThreshold, `unmeasured ${unmeasured}`)
  assert.equal(capacityScore({ uploadBytesPerSec: 1e12, idleCpus: 1e6, uptimeMs: 1e12, dialable: true }, DEFAULTS), 1)
  assert.ok(leafCapacity(1, 64) > leafCapacity(0.6, 64), 'more capacity, more leaves')
  assert.equal(leafCapacity(0, 64), 1)
})

test('election: a capable leaf is promoted only while the overlay needs supernodes', () => {
  const cfg = DEFAULTS
  assert.equal(elect({ ...base, role: 'leaf' }, cfg).role, 'leaf', 'unmeasured: stays')
  assert.equal(elect({ ...base, role: 'leaf', score: 0.5 }, cfg).role, 'leaf', 'below the threshold')
  assert.equal(elect({ ...base, role: 'leaf', score: 0.7 }, cfg).role, 'super', 'none known')
  assert.equal(elect({ ...base, role: 'leaf', score: 0.7, supers: [room, room] }, cfg).role, 'super', 'fewer than minSupernodes')
  assert.equal(elect({ ...base, role: 'leaf', score: 0.7, supers: [room, room, room] }, cfg).role, 'leaf', 'enough with room')
  assert.equal(elect({ ...base, role: 'leaf', score: 0.7, supers: [full, full, full] }, cfg).role, 'super', 'all loaded')
  assert.equal(elect({ ...base, role: 'leaf', score: 0.7, now: 1_000 }, cfg).role, 'leaf', 'too soon after the last change')
})

test('election: hysteresis on the score and on idleness keeps supernodes from flapping', () => {
  const cfg = DEFAULTS
  const t = cfg.superThreshold
  assert.equal(elect({ ...base, role: 'super', score: t - 0.05, leaves: 3 }, cfg).role, 'super', 'a little below the threshold: stays')
  assert.equal(elect({ ...base, role: 'super', score: t * cfg.demoteFactor - 0.01, leaves: 3 }, cfg).role, 'leaf', 'well below: steps down')
  const idle = { ...base, role: 'super' as const, score: 0.9, leaves: 0, supers: [room, room, room] }
  assert.equal(elect({ ...idle, leaflessSince: idle.now - 1_000 }, cfg).role, 'super', 'idle briefly: stays')
  assert.equal(elect({ ...idle, leaflessSince: idle.now - cfg.idleSuperMs }, cfg).role, 'leaf', 'idle long while others have room: steps down')
  assert.equal(elect({ ...idle, supers: [room, room], leaflessSince: idle.now - cfg.idleSuperMs }, cfg).role, 'super', 'idle but needed')
})

test('config: environment knobs, bounds', () => {
  const c = resolveConfig({}, { SEDAI_SUPERNODE_CACHE_PROBABILITY: '0.5', SEDAI_SUPERNODE_CACHE_POLICY: 'lru', SEDAI_SUPERNODE_MIN_ROLE_MS: '1000' })
  assert.equal(c.cacheProbability, 0.5)
  assert.equal(c.cachePolicy, 'lru')
  assert.equal(c.minRoleMs, 1000)
  assert.throws(() => resolveConfig({}, { SEDAI_SUPERNODE_CACHE_POLICY: 'fifo' }), InvalidOptionError)
  assert.throws(() => resolveConfig({}, { SEDAI_SUPERNODE_TTL: 'x' }), InvalidOptionError)
  assert.throws(() => resolveConfig({ leafSupernodes: 4 }), InvalidOptionError)
  assert.throws(() => resolveConfig({ cacheProbability: 2 }), InvalidOptionError)
  assert.equal(resolveConfig({ maxTtl: 50 }).maxTtl, 10, 'the hard cap holds')
})
