import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { CID } from 'multiformats/cid'
import { MAX_CID_BYTES, MAX_ERROR_TEXT_BYTES, MAX_KEYWORD_BYTES, MAX_NAME_BYTES, MAX_QUERY_KEYWORDS, MAX_RESULTS } from '../src/protocol/constants.ts'
import { MessageType, Status, decodeQuery, decodeResult, encodeQuery, encodeResult } from '../src/protocol/messages.ts'

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/keyword-messages.json', import.meta.url), 'utf8'))
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'))
const CID_BYTES = CID.parse(fixtures.resultOk.files[0].cid).bytes

test('QUERY: golden bytes both ways', () => {
  assert.equal(hex(encodeQuery(fixtures.query.keywords)), fixtures.query.hex)
  assert.deepEqual(decodeQuery(bytes(fixtures.query.hex)), { type: MessageType.QUERY, keywords: fixtures.query.keywords })
})

test('RESULT: golden bytes both ways (OK and NOT_FOUND)', () => {
  const files = fixtures.resultOk.files.map((f: any) => ({ cid: CID.parse(f.cid).bytes, size: f.size, name: f.name }))
  assert.equal(hex(encodeResult({ status: Status.OK, files })), fixtures.resultOk.hex)
  const ok = decodeResult(bytes(fixtures.resultOk.hex))
  assert.equal(ok.status, Status.OK)
  assert.deepEqual(ok.files.map(f => ({ cid: CID.decode(f.cid).toString(), size: f.size, name: f.name })), fixtures.resultOk.files)
  assert.equal(hex(encodeResult({ status: Status.NOT_FOUND, error: fixtures.resultNotFound.error })), fixtures.resultNotFound.hex)
  assert.deepEqual(decodeResult(bytes(fixtures.resultNotFound.hex)), { type: MessageType.RESULT, status: Status.NOT_FOUND, files: [], error: fixtures.resultNotFound.error })
})

test('RESULT: sizes up to 2^53 - 1 survive; long error text is cut', () => {
  const big = decodeResult(encodeResult({ status: Status.OK, files: [{ cid: CID_BYTES, size: Number.MAX_SAFE_INTEGER, name: '' }] }))
  assert.equal(big.files[0].size, Number.MAX_SAFE_INTEGER)
  const err = decodeResult(encodeResult({ status: Status.ERROR, error: 'x'.repeat(1000) }))
  assert.equal(err.error?.length, MAX_ERROR_TEXT_BYTES)
})

test('encoders refuse what the decoders would refuse', () => {
  const codes = (fn: () => unknown): void => { assert.throws(fn, { code: 'ERR_INVALID_MESSAGE' }) }
  codes(() => encodeQuery([]))
  codes(() => encodeQuery(Array(MAX_QUERY_KEYWORDS + 1).fill('ab')))
  codes(() => encodeQuery(['']))
  codes(() => encodeQuery(['x'.repeat(MAX_KEYWORD_BYTES + 1)]))
  codes(() => encodeResult({ status: Status.OK, files: Array(MAX_RESULTS + 1).fill({ cid: CID_BYTES, size: 1, name: 'a' }) }))
  codes(() => encodeResult({ status: Status.OK, files: [{ cid: new Uint8Array(MAX_CID_BYTES + 1), size: 1, name: 'a' }] }))
  codes(() => encodeResult({ status: Status.OK, files: [{ cid: CID_BYTES, size: -1, name: 'a' }] }))
  codes(() => encodeResult({ status: Status.OK, files: [{ cid: CID_BYTES, size: 1, name: 'n'.repeat(MAX_NAME_BYTES + 1) }] }))
})

test('QUERY decoder: malformed input is InvalidMessageError, never a crash', () => {
  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['01', 'no count'],
    ['0100', 'zero keywords'],
    [`01${(MAX_QUERY_KEYWORDS + 1).toString(16)}`, 'too many keywords'],
    ['010203616263', 'keyword length past the end'],
    ['01020161', 'second keyword missing'],
    ['010100', 'empty keyword'],
    ['010102c328', 'invalid UTF-8'],
    ['0101026162ff', 'trailing byte'],
    ['020102616263', 'a RESULT type byte']
  ]
  for (const [h, why] of bad) assert.throws(() => decodeQuery(bytes(h)), { code: 'ERR_INVALID_MESSAGE' }, why)
})

test('RESULT decoder: malformed input is InvalidMessageError, never a crash', () => {
  const ok = fixtures.resultOk.hex as string
  const bad: Array<[string, string]> = [
    ['02', 'too short'],
    ['0209', 'unknown status'],
    ['0200', 'OK without a count'],
    ['02000001', 'count 1, no file'],
    [ok.slice(0, -2), 'name cut short'],
    [ok + '00', 'trailing byte'],
    ['0200' + (MAX_RESULTS + 1).toString(16).padStart(4, '0'), 'too many files'],
    ['0200000100', 'zero-length cid'],
    ['02000001ff' + '00'.repeat(255), 'cid longer than the limit'],
    ['0200000101aa' + 'ff'.repeat(8) + '0000', 'size above 2^53'],
    ['0200000101aa' + '00'.repeat(8) + 'ffff', 'name longer than the limit'],
    ['0200000101aa' + '00'.repeat(8) + '0002c328', 'name not UTF-8'],
    ['0202' + '78'.repeat(MAX_ERROR_TEXT_BYTES + 1), 'error text too long'],
    ['010161', 'a QUERY type byte']
  ]
  for (const [h, why] of bad) assert.throws(() => decodeResult(bytes(h)), { code: 'ERR_INVALID_MESSAGE' }, why)
})
