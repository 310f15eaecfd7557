import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { InvalidMessageError } from '@sedai/core'
import { encodeQuery } from '@sedai/flooding-peer'
import { MAX_INDEX_FILES_PER_MESSAGE, MAX_INTERESTS, MAX_STATUS_SUPERS } from '../src/protocol/constants.ts'
import { Role, SuperType, Want, Welcome, decodeMessage, encodeHello, encodeIndex, encodeStatus, encodeWelcome } from '../src/protocol/messages.ts'
import type { Status } from '../src/protocol/messages.ts'

const golden = JSON.parse(readFileSync(new URL('./fixtures/supernode-messages.json', import.meta.url), 'utf8')) as Record<string, string>
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'))
const peer = '12D3KooWGRUVh4QNsVGVJnF9UKxMHxXNjSNYgu2thpUnP6GXj5f4'
const cid = 'bafyreihoxdfaya7bqsqhdns3qpv4qv7uj5x7sj43qiktr76qrxbh5acwxm'
const status: Status = {
  role: Role.SUPER,
  score: 0.75,
  leaves: 3,
  maxLeaves: 48,
  entry: { peerId: peer, addrs: ['/ip4/127.0.0.1/tcp/4001'] },
  interests: ['音楽', 'jazz'],
  supers: [{ entry: { peerId: peer, addrs: ['/ip4/10.0.0.2/tcp/4001'] }, score: 0.6, leaves: 1, maxLeaves: 38, interests: ['jazz'] }]
}

test('golden bytes: HELLO, WELCOME, STATUS and INDEX encode to their fixtures and decode back', () => {
  assert.equal(hex(encodeHello(Want.LEAF, status)), golden.hello)
  assert.ok(golden.hello.startsWith('10' + '01' + '02' + '02ee'), 'HELLO = type, want, role, score in thousandths (750)')
  assert.deepEqual(decodeMessage(bytes(golden.hello)), { type: SuperType.HELLO, want: Want.LEAF, status })

  const leaf = { ...status, role: Role.LEAF, interests: [], supers: [] }
  assert.equal(hex(encodeWelcome(Welcome.FULL, leaf)), golden.welcome)
  assert.deepEqual(decodeMessage(bytes(golden.welcome)), { type: SuperType.WELCOME, result: Welcome.FULL, status: leaf })

  assert.equal(hex(encodeStatus(status)), golden.status)
  assert.deepEqual(decodeMessage(bytes(golden.status)), { type: SuperType.STATUS, status })

  const files = [{ cid, name: 'ピアツーピア入門.pdf', size: 1234567 }]
  assert.equal(hex(encodeIndex(true, files)), golden.index)
  assert.ok(golden.index.startsWith('13' + '01' + '0001'), 'INDEX = type, reset, count u16')
  assert.deepEqual(decodeMessage(bytes(golden.index)), { type: SuperType.INDEX, reset: true, files })
})

test('the flooding messages pass through with their own codec', () => {
  const id = Uint8Array.from({ length: 16 }, (_, i) => i)
  const q = decodeMessage(encodeQuery({ id, ttl: 3, hops: 1, text: 'jazz' }))
  assert.equal(q.type, 3)
})

test('limits: counts, scores, flags, truncation and trailing bytes are refused', () => {
  const refuses = (b: Uint8Array, what: RegExp): void => { assert.throws(() => decodeMessage(b), (err: any) => err instanceof InvalidMessageError && what.test(err.message)) }
  assert.throws(() => encodeStatus({ ...status, interests: Array.from({ length: MAX_INTERESTS + 1 }, (_, i) => `w${i}`) }), InvalidMessageError)
  assert.throws(() => encodeStatus({ ...status, supers: Array.from({ length: MAX_STATUS_SUPERS + 1 }, () => status.supers[0]) }), InvalidMessageError)
  assert.throws(() => encodeStatus({ ...status, score: 1.5 }), InvalidMessageError)
  assert.throws(() => encodeIndex(false, Array.from({ length: MAX_INDEX_FILES_PER_MESSAGE + 1 }, () => ({ cid, name: 'x', size: 1 }))), InvalidMessageError)
  assert.throws(() => encodeStatus({ ...status, interests: ['x'.repeat(33)] }), InvalidMessageError)

  const s = bytes(golden.status)
  const badScore = Uint8Array.from(s); badScore[2] = 0x03; badScore[3] = 0xe9 // 1001
  refuses(badScore, /score/)
  const badRole = Uint8Array.from(s); badRole[1] = 9
  refuses(badRole, /role/)
  refuses(s.subarray(0, s.byteLength - 1), /truncated/)
  refuses(Uint8Array.from([...s, 0]), /trailing/)
  const idx = bytes(golden.index)
  const badReset = Uint8Array.from(idx); badReset[1] = 2
  refuses(badReset, /reset/)
  const tooMany = Uint8Array.from(idx); tooMany[2] = 0xff; tooMany[3] = 0xff
  refuses(tooMany, /at most/)
  const hello = bytes(golden.hello)
  const badWant = Uint8Array.from(hello); badWant[1] = 7
  refuses(badWant, /want/)
  refuses(Uint8Array.from([0x1f]), /unknown message type/)
  refuses(new Uint8Array(0), /empty/)
})
