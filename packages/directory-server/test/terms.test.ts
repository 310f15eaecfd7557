import assert from 'node:assert/strict'
import { test } from 'node:test'
import { indexText, matchExpression } from '../src/terms.ts'

const LIMITS = { maxQueryChars: 256, maxKeywords: 8 }

test('Latin names index as words, case and width folded', () => {
  assert.equal(indexText('Love_Song (Live) 2024.MP3'), 'love song live 2024 mp3')
  assert.equal(indexText('ＴＥＳＴ ｆｉｌｅ.txt'), 'test file txt')
})

test('CJK runs index as bigrams plus the last character', () => {
  assert.equal(indexText('ピアツーピア入門.pdf'), 'ピア アツ ツー ーピ ピア ア入 入門 門 pdf')
  assert.equal(indexText('夜 music'), '夜 music')
  // half-width katakana is normalised first
  assert.equal(indexText('ﾋﾟｱ'), 'ピア ア')
})

test('queries: words AND-ed, CJK keywords as bigram phrases, one character as a prefix', () => {
  assert.equal(matchExpression('Love  song', LIMITS), '"love" AND "song"')
  assert.equal(matchExpression('ツーピア', LIMITS), '"ツー ーピ ピア"')
  assert.equal(matchExpression('入門', LIMITS), '"入門"')
  assert.equal(matchExpression('門', LIMITS), '"門"*')
  assert.equal(matchExpression('入門 pdf', LIMITS), '"入門" AND "pdf"')
  // quotes cannot break out of the FTS5 string
  assert.equal(matchExpression('a"b', LIMITS), '"a" AND "b"')
  assert.equal(matchExpression('love love', LIMITS), '"love"')
})

test('queries that are empty, too long or too wide are refused', () => {
  assert.throws(() => matchExpression('  ..!! ', LIMITS), { code: 'ERR_INVALID_MESSAGE' })
  assert.throws(() => matchExpression('x'.repeat(257), LIMITS), { code: 'ERR_INVALID_MESSAGE' })
  assert.throws(() => matchExpression('a b c d e f g h i', LIMITS), /more than 8 keywords/)
})
