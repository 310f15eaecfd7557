import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Bitfield } from '../../src/store/bitfield.ts'

test('bits are MSB first, as in the BitTorrent bitfield message', () => {
  const b = new Bitfield(10)
  assert.equal(b.toBytes().byteLength, 2)
  b.set(0)
  b.set(9)
  assert.deepEqual(b.toBytes(), Uint8Array.from([0b1000_0000, 0b0100_0000]))
  const c = new Bitfield(10, Uint8Array.from([0b0100_0001, 0b1000_0000]))
  assert.deepEqual([...Array(10).keys()].filter(i => c.get(i)), [1, 7, 8])
})

test('set, clear and count', () => {
  const b = new Bitfield(20)
  assert.equal(b.count(), 0)
  assert.equal(b.set(3), true)
  assert.equal(b.set(3), false, 'already set')
  assert.equal(b.get(3), true)
  assert.equal(b.get(4), false)
  assert.equal(b.count(), 1)
  assert.equal(b.clear(3), true)
  assert.equal(b.clear(3), false, 'already clear')
  assert.equal(b.count(), 0)
  assert.equal(new Bitfield(12, Uint8Array.from([0xff, 0xa0])).count(), 10)
})

test('isComplete and full', () => {
  assert.equal(new Bitfield(0).isComplete(), true, 'an empty file is complete')
  const b = new Bitfield(9)
  for (let i = 0; i < 8; i++) b.set(i)
  assert.equal(b.isComplete(), false)
  b.set(8)
  assert.equal(b.isComplete(), true)
  assert.deepEqual(Bitfield.full(9).toBytes(), Uint8Array.from([0xff, 0x80]))
  assert.equal(Bitfield.full(9).isComplete(), true)
})

test('nextMissing', () => {
  const b = new Bitfield(20)
  assert.equal(b.nextMissing(), 0)
  for (let i = 0; i < 17; i++) b.set(i)
  assert.equal(b.nextMissing(), 17)
  assert.equal(b.nextMissing(5), 17)
  assert.equal(b.nextMissing(18), 18)
  b.clear(9)
  assert.equal(b.nextMissing(), 9)
  assert.equal(b.nextMissing(10), 17)
  assert.equal(b.nextMissing(-3), 9)
  for (let i = 0; i < 20; i++) b.set(i)
  assert.equal(b.nextMissing(), -1)
  assert.equal(b.nextMissing(25), -1)
})

test('constructor validates the bytes and copies them', () => {
  assert.throws(() => new Bitfield(10, new Uint8Array(1)), { code: 'ERR_INVALID_MESSAGE' })
  assert.throws(() => new Bitfield(10, new Uint8Array(3)), { code: 'ERR_INVALID_MESSAGE' })
  assert.throws(() => new Bitfield(10, Uint8Array.from([0, 0b0010_0000])), { code: 'ERR_INVALID_MESSAGE' }, 'spare bit set')
  assert.throws(() => new Bitfield(-1), RangeError)
  assert.throws(() => new Bitfield(1.5), RangeError)
  const bytes = Uint8Array.from([0xff, 0xc0])
  const b = new Bitfield(10, bytes)
  bytes[0] = 0
  assert.equal(b.get(0), true, 'constructor copied')
  const out = b.toBytes()
  out[0] = 0
  assert.equal(b.get(0), true, 'toBytes copied')
})

test('out-of-range indexes throw', () => {
  const b = new Bitfield(8)
  for (const i of [-1, 8, 1.5, NaN]) {
    assert.throws(() => b.get(i), RangeError)
    assert.throws(() => b.set(i), RangeError)
    assert.throws(() => b.clear(i), RangeError)
  }
})
