import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BlobTable } from '../../src/cache/blobs.ts'
import type { Entry } from '../../src/cache/blobs.ts'

const blob = (loc: string, index: number, size = 10): Entry => ({ loc, index, size, freq: 0, lastAccess: 0, seq: 0 })

test('the blob table: sizes add up; LRU evicts the least recent, LFU the least used; a file gone with its last blob', () => {
  let now = 0
  for (const policy of ['lru', 'lfu'] as const) {
    const table = new BlobTable(policy, Infinity, () => ++now)
    const [a, b] = [blob('f1', 0), blob('f2', 0, 30)]
    for (const e of [a, b]) { table.insert(e); table.touch(e) }
    table.touch(a) // a: used three times, b: twice but last
    table.touch(a)
    table.touch(b)
    assert.equal(table.bytes, 40)
    assert.equal(table.entries, 2)
    assert.equal(table.victim(), policy === 'lru' ? a : b)
    assert.deepEqual(table.remove(a), { last: true })
    assert.equal(table.remove(a), undefined, 'removed once')
    assert.equal(table.hasFile('f1'), false)
    assert.equal(table.bytes, 30)
  }
})
