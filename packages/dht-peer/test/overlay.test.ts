import assert from 'node:assert/strict'
import { test } from 'node:test'
import { commonPrefixLength } from '../src/dht-peer.ts'

test('a contact\'s bucket is the length of the prefix its Kademlia id shares with ours', () => {
  const id = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes)
  assert.equal(commonPrefixLength(id(0b1000_0000, 0), id(0b0000_0000, 0)), 0)
  assert.equal(commonPrefixLength(id(0b1010_0000, 0), id(0b1011_0000, 0)), 3)
  assert.equal(commonPrefixLength(id(0xff, 0b0100_0000), id(0xff, 0b0110_0000)), 10)
  assert.equal(commonPrefixLength(id(1, 2, 3), id(1, 2, 3)), 24)
})
