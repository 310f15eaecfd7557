import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BanList } from '../../src/overlay/bans.ts'

test('a ban runs out after banMs; a full table drops expired bans first, then the oldest', () => {
  let now = 0
  const bans = new BanList({ banMs: 100, maxBanned: 2, now: () => now })
  bans.ban('a')
  now = 50
  bans.ban('b')
  assert.deepEqual(bans.list(), ['a', 'b'])
  now = 120 // a's ban is over, b's is not
  assert.equal(bans.isBanned('a'), false)
  bans.ban('c')
  assert.deepEqual(bans.list(), ['b', 'c'])
  bans.ban('d') // full, nothing expired: the oldest (b) goes
  assert.deepEqual(bans.list(), ['c', 'd'])
})
