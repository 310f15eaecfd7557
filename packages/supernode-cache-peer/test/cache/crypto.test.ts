/**
 * The cache's key, locator and sealing. The golden values were computed once
 * and cross-checked with an independent implementation (Python hmac-based
 * HKDF + cryptography's AESGCM); they pin the disk format.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InvalidCidError, InvalidOptionError } from '@sedai/core'
import { MANIFEST_INDEX, SEAL_OVERHEAD, cacheKey, locator, openChunk, sealChunk } from '../../src/cache/crypto.ts'

const CID = 'bafyreihoxdfaya7bqsqhdns3qpv4qv7uj5x7sj43qiktr76qrxbh5acwxm'
const OTHER_CID = 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const PLAIN = Buffer.from('sedai cache golden')

const GOLDEN = {
  locator: 'b098235ac715890bfbd6876189b6b174cfe0d022b932ad942662558a7da4446a',
  key: '427e2e9064b25cfd667a8c9f3b4a71c4ff14835173ff2c9405ca4582f54f73c7',
  sealed0: 'fed641fef98e8694e41c115f4810449993421f8eea69a2cd7d28b437fc5fd834dd34',
  sealed7: 'f4036f4127a6c78fb85f7f5986bfed409ac5f87197142010107d322bbe794f84ed61',
  sealedManifest: 'af7794da6f7af295b808dcbdf79860e1fd99733b72cc286b689656f4b6d837348209'
}

test('golden: locator, key and sealed bytes of a fixed CID and plaintext', () => {
  assert.equal(locator(CID), GOLDEN.locator)
  const key = cacheKey(CID)
  assert.equal(key.toString('hex'), GOLDEN.key)
  assert.equal(sealChunk(key, 0, PLAIN).toString('hex'), GOLDEN.sealed0)
  assert.equal(sealChunk(key, 7, PLAIN).toString('hex'), GOLDEN.sealed7)
  assert.equal(sealChunk(key, MANIFEST_INDEX, PLAIN).toString('hex'), GOLDEN.sealedManifest)
})

test('locator and key differ per CID and reveal neither each other nor the CID', () => {
  assert.notEqual(locator(OTHER_CID), locator(CID))
  assert.notDeepEqual(cacheKey(OTHER_CID), cacheKey(CID))
  assert.notEqual(locator(CID), cacheKey(CID).toString('hex'))
  assert.match(locator(CID), /^[0-9a-f]{64}$/)
})

test('seal/open round trip; sealed = plaintext length + 16-byte tag', () => {
  const key = cacheKey(CID)
  for (const plain of [Buffer.alloc(0), PLAIN, Buffer.alloc(70_000, 0xab)]) {
    const sealed = sealChunk(key, 3, plain)
    assert.equal(sealed.byteLength, plain.byteLength + SEAL_OVERHEAD)
    assert.deepEqual(openChunk(key, 3, sealed), plain)
  }
})

test('tampered, truncated, wrong key or wrong index: undefined', () => {
  const key = cacheKey(CID)
  const sealed = sealChunk(key, 1, PLAIN)
  for (let i = 0; i < sealed.byteLength; i++) {
    const bad = Buffer.from(sealed)
    bad[i] ^= 0x01
    assert.equal(openChunk(key, 1, bad), undefined, `flipped byte ${i}`)
  }
  assert.equal(openChunk(key, 1, sealed.subarray(0, sealed.byteLength - 1)), undefined)
  assert.equal(openChunk(key, 1, sealed.subarray(0, 10)), undefined)
  assert.equal(openChunk(cacheKey(OTHER_CID), 1, sealed), undefined)
  assert.equal(openChunk(key, 2, sealed), undefined)
  assert.equal(openChunk(key, MANIFEST_INDEX, sealed), undefined)
})

test('bad input: invalid CID, index or key', () => {
  assert.throws(() => cacheKey('not-a-cid'), InvalidCidError)
  assert.throws(() => locator('bafkqaaa'), InvalidCidError)
  const key = cacheKey(CID)
  assert.throws(() => sealChunk(key, -1, PLAIN), InvalidOptionError)
  assert.throws(() => sealChunk(key, 1.5, PLAIN), InvalidOptionError)
  assert.throws(() => sealChunk(key, MANIFEST_INDEX + 1, PLAIN), InvalidOptionError)
  assert.throws(() => sealChunk(key.subarray(0, 16), 0, PLAIN), InvalidOptionError)
  assert.throws(() => openChunk(key, -1, sealChunk(key, 0, PLAIN)), InvalidOptionError)
})
