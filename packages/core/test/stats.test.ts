import assert from 'node:assert/strict'
import { test } from 'node:test'
import { percentile } from '../src/stats.ts'

test('percentile: nearest rank over unsorted samples, undefined for none', () => {
  assert.equal(percentile([], 50), undefined)
  assert.equal(percentile([5], 99), 5)
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50), 5)
  assert.equal(percentile([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 95), 10)
  assert.equal(percentile([3, 1, 2], 0), 1)
  assert.equal(percentile([3, 1, 2], 100), 3)
})
