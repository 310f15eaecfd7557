import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { CID } from 'multiformats/cid'
import { MAX_TOKEN_CHARS, RAW_CODEC, SHA256_CODE, keywordCid, keywords, matches, normalize } from '../src/keywords.ts'

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/keyword-messages.json', import.meta.url), 'utf8'))

test('normalize: NFKC folds full-width ASCII and half-width katakana, then lower case', () => {
  assert.equal(normalize('ＫａｄｅｍＬＩＡ'), 'kademlia')
  assert.equal(normalize('ﾋﾟｱ'), 'ピア')
  assert.equal(normalize('Straße'), 'straße')
})

test('keywords: Latin words of 2+ letters, digits kept, duplicates dropped, order of appearance', () => {
  assert.deepEqual(keywords('Kademlia_notes-v2 (a) KADEMLIA.txt'), ['kademlia', 'notes', 'v2', 'txt'])
  assert.deepEqual(keywords('report 2024 x'), ['report', '2024'])
  assert.deepEqual(keywords('...!!'), [])
})

test('keywords: Japanese runs become overlapping bigrams; a script change splits a run', () => {
  assert.deepEqual(keywords('ピアツーピア入門 Kademlia.PDF'), ['ピア', 'アツ', 'ツー', 'ーピ', 'ア入', '入門', 'kademlia', 'pdf'])
  assert.deepEqual(keywords('名古屋の観光ガイド.txt'), ['名古', '古屋', '屋の', 'の観', '観光', '光ガ', 'ガイ', 'イド', 'txt'])
  assert.deepEqual(keywords('東京abc'), ['東京', 'abc'])
  // a lone character is kept as a unigram
  assert.deepEqual(keywords('本 book'), ['本', 'book'])
  // half-width and full-width forms give the same keys
  assert.deepEqual(keywords('ﾋﾟｱﾂｰﾋﾟｱ'), keywords('ピアツーピア'))
})

test('keywords: at most `max`, each at most MAX_TOKEN_CHARS characters', () => {
  assert.equal(keywords('aa bb cc dd ee', 3).length, 3)
  assert.equal([...keywords('x'.repeat(500))[0]].length, MAX_TOKEN_CHARS)
})

test('matches: a name matches when it has every query keyword', () => {
  const name = keywords('名古屋の観光ガイド.txt')
  assert.equal(matches(name, keywords('名古屋')), true)
  assert.equal(matches(name, keywords('観光 名古屋')), true)
  assert.equal(matches(name, keywords('東京 観光')), false)
  assert.equal(matches(name, []), false)
})

test('keywordCid: CIDv1 raw over sha2-256("kw:" + keyword), golden values', () => {
  for (const [kw, expected] of Object.entries(fixtures.keywordCids) as Array<[string, { cid: string, sha256?: string }]>) {
    const cid = keywordCid(kw)
    assert.equal(cid.toString(), expected.cid)
    assert.equal(cid.version, 1)
    assert.equal(cid.code, RAW_CODEC)
    assert.equal(cid.multihash.code, SHA256_CODE)
    if (expected.sha256 !== undefined) assert.equal(Buffer.from(cid.multihash.digest).toString('hex'), expected.sha256)
  }
  assert.ok(CID.parse(fixtures.keywordCids.kademlia.cid).equals(keywordCid('kademlia')))
  assert.notEqual(keywordCid('kademlia').toString(), keywordCid('kademlib').toString())
})
