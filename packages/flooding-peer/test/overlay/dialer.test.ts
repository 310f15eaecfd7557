import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Backoff, BOOTSTRAP_BACKOFF } from '../../src/overlay/dialer.ts'

test('the bootstrap backoff: 250 ms, growing by half up to 5 s; a link resets it', () => {
  const backoff = new Backoff()
  const waits = Array.from({ length: 10 }, () => backoff.next())
  assert.deepEqual(waits.map(Math.round), [250, 375, 563, 844, 1266, 1898, 2848, 4271, 5000, 5000])
  assert.deepEqual(BOOTSTRAP_BACKOFF, { firstMs: 250, maxMs: 5_000, factor: 1.5 })
  backoff.reset()
  assert.equal(backoff.next(), 250)
})
