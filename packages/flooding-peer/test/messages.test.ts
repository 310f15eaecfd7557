import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { InvalidMessageError } from '@sedai/core'
import {
  ByeCode, MessageType, RelayStatus, decodeMessage, encodeBye, encodePing, encodePong, encodeQuery, encodeQueryHit, encodeRelayReply, encodeRelayRequest, idHex
} from '../src/protocol/messages.ts'
import { MAX_HIT_FILES, MAX_PONG_ENTRIES, MAX_QUERY_BYTES, RELAY_RANGE_BYTES } from '../src/protocol/constants.ts'

const golden = JSON.parse(readFileSync(new URL('./fixtures/flood-messages.json', import.meta.url), 'utf8')) as Record<string, string>
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'))
const id = Uint8Array.from({ length: 16 }, (_, i) => i)
const peer = '12D3KooWGRUVh4QNsVGVJnF9UKxMHxXNjSNYgu2thpUnP6GXj5f4'
const cid = 'bafyreihoxdfaya7bqsqhdns3qpv4qv7uj5x7sj43qiktr76qrxbh5acwxm'

test('golden bytes: every message encodes to its fixture and decodes back', () => {
  assert.equal(hex(encodePing(42)), golden.ping)
  assert.equal(golden.ping, '01' + '0000002a', 'PING = type, nonce u32')
  assert.deepEqual(decodeMessage(bytes(golden.ping)), { type: MessageType.PING, nonce: 42 })

  const pong = { type: MessageType.PONG, nonce: 42, entries: [{ peerId: peer, addrs: ['/ip4/127.0.0.1/tcp/4001'] }] }
  assert.equal(hex(encodePong(42, pong.entries)), golden.pong)
  assert.deepEqual(decodeMessage(bytes(golden.pong)), pong)

  const query = { type: MessageType.QUERY, id, ttl: 7, hops: 0, text: 'ピア mp3' }
  assert.equal(hex(encodeQuery(query)), golden.query)
  assert.equal(golden.query.slice(0, 2 + 32 + 4), '03' + hex(id) + '07' + '00', 'QUERY = type, id, ttl, hops, then text')
  assert.deepEqual(decodeMessage(bytes(golden.query)), query)

  const hit = {
    type: MessageType.QUERY_HIT,
    id,
    responder: { peerId: peer, addrs: ['/ip4/10.0.0.2/tcp/4001', '/ip6/::1/tcp/4001'] },
    files: [{ cid, name: 'hello-world.txt', size: 11 }]
  }
  assert.equal(hex(encodeQueryHit(hit)), golden.queryHit)
  assert.ok(golden.queryHit.endsWith('000000000000000b'), 'size is a u64 at the end')
  assert.deepEqual(decodeMessage(bytes(golden.queryHit)), hit)

  assert.equal(hex(encodeBye(ByeCode.FLOODING, 'too many queries')), golden.bye)
  assert.deepEqual(decodeMessage(bytes(golden.bye)), { type: MessageType.BYE, code: ByeCode.FLOODING, reason: 'too many queries' })
})

test('golden bytes: the in-band relay messages', () => {
  const rid = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + i)
  const req = { type: MessageType.RELAY_REQUEST, id: rid, ttl: 10, target: peer, cid, index: 2, offset: 32768, length: 32768 }
  assert.equal(hex(encodeRelayRequest(req)), golden.relayRequest)
  assert.ok(golden.relayRequest.endsWith('00000002' + '00008000' + '00008000'), 'index, offset, length as u32')
  assert.deepEqual(decodeMessage(bytes(golden.relayRequest)), req)
  const ok = { type: MessageType.RELAY_REPLY, id: rid, status: RelayStatus.OK, total: 5, data: Uint8Array.of(1, 2, 3, 4, 5) }
  assert.equal(hex(encodeRelayReply(ok)), golden.relayReply)
  assert.equal(golden.relayReply, '07' + hex(rid) + '00' + '00000005' + '0102030405')
  assert.deepEqual(decodeMessage(bytes(golden.relayReply)), ok)
  const missing = { type: MessageType.RELAY_REPLY, id: rid, status: RelayStatus.NOT_FOUND, total: 0, error: 'not shared here' }
  assert.equal(hex(encodeRelayReply(missing)), golden.relayReplyNotFound)
  assert.deepEqual(decodeMessage(bytes(golden.relayReplyNotFound)), missing)
  // malformed
  const long = Uint8Array.from(bytes(golden.relayRequest))
  new DataView(long.buffer).setUint32(long.byteLength - 4, RELAY_RANGE_BYTES + 1)
  assert.throws(() => decodeMessage(long), { code: 'ERR_INVALID_MESSAGE', message: new RegExp(`RELAY_REQUEST length ${RELAY_RANGE_BYTES + 1}`) })
  assert.throws(() => decodeMessage(Uint8Array.from([...bytes(golden.relayRequest), 0])), { code: 'ERR_INVALID_MESSAGE', message: /trailing/ })
  const badStatus = Uint8Array.from(bytes(golden.relayReply))
  badStatus[17] = 9
  assert.throws(() => decodeMessage(badStatus), { code: 'ERR_INVALID_MESSAGE', message: /unknown RELAY_REPLY status 9/ })
  assert.throws(() => decodeMessage(Uint8Array.from([...bytes(golden.relayReply), ...new Uint8Array(RELAY_RANGE_BYTES)])), { code: 'ERR_INVALID_MESSAGE', message: /RELAY_REPLY of/ })
  assert.throws(() => encodeRelayRequest({ ...req, length: 0 }), { code: 'ERR_INVALID_MESSAGE' })
})

test('idHex is the lowercase hex of the 16-byte id', () => {
  assert.equal(idHex(id), '000102030405060708090a0b0c0d0e0f')
})

test('malformed frames are rejected with ERR_INVALID_MESSAGE and a reason', () => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty', new Uint8Array(0), /empty frame/],
    ['unknown type', Uint8Array.of(9), /unknown message type 9/],
    ['PING short', Uint8Array.of(1, 0, 0), /PING truncated/],
    ['PING trailing', Uint8Array.of(1, 0, 0, 0, 1, 7), /trailing/],
    ['QUERY no text', bytes('03' + hex(id) + '0700'), /QUERY text of 0 bytes/],
    ['QUERY long text', Uint8Array.from([3, ...id, 7, 0, ...new Uint8Array(MAX_QUERY_BYTES + 1).fill(97)]), /QUERY text of 257 bytes/],
    ['QUERY bad UTF-8', Uint8Array.from([3, ...id, 7, 0, 0xff, 0xfe]), /not valid UTF-8/],
    ['QUERY short id', Uint8Array.of(3, 1, 2, 3), /QUERY truncated in id/],
    ['PONG too many entries', Uint8Array.of(2, 0, 0, 0, 0, MAX_PONG_ENTRIES + 1), /PONG of 17 entries/],
    ['PONG truncated entry', Uint8Array.of(2, 0, 0, 0, 0, 1, 52, 49), /PONG truncated/],
    ['PONG bad peer id', Uint8Array.of(2, 0, 0, 0, 0, 1, 2, 0x30, 0x30, 0), /invalid peer id/],
    ['BYE unknown code', Uint8Array.of(5, 99), /unknown BYE code 99/]
  ]
  const good = bytes(golden.queryHit)
  const noFiles = Uint8Array.from(good.subarray(0, good.byteLength - (1 + 1 + cid.length + 2 + 15 + 8)))
  cases.push(['QUERY_HIT without files', Uint8Array.from([...noFiles, 0]), /QUERY_HIT of 0 files/])
  cases.push(['QUERY_HIT too many files', Uint8Array.from([...noFiles, MAX_HIT_FILES + 1]), /QUERY_HIT of 33 files/])
  const huge = Uint8Array.from(good)
  huge.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], huge.byteLength - 8)
  cases.push(['QUERY_HIT size beyond 2^53', huge, /size .* too large/])
  cases.push(['QUERY_HIT trailing', Uint8Array.from([...good, 0]), /trailing/])
  const badAddr = Uint8Array.from(bytes(golden.pong))
  badAddr[badAddr.byteLength - 8] = 0xee // the address's first protocol code
  cases.push(['PONG bad multiaddr', badAddr, /invalid multiaddr/])
  for (const [what, frame, reason] of cases) {
    assert.throws(() => decodeMessage(frame), (err: any) => {
      assert.equal(err.code, 'ERR_INVALID_MESSAGE', what)
      assert.match(err.message, reason, what)
      return true
    }, what)
  }
})

test('encoders refuse what the decoder would refuse', () => {
  assert.throws(() => encodeQuery({ id: new Uint8Array(15), ttl: 7, hops: 0, text: 'x' }), { code: 'ERR_INVALID_MESSAGE' })
  assert.throws(() => encodeQuery({ id, ttl: 256, hops: 0, text: 'x' }), { code: 'ERR_INVALID_MESSAGE' })
  assert.throws(() => encodeQuery({ id, ttl: 7, hops: 0, text: '' }), { code: 'ERR_INVALID_MESSAGE' })
  assert.throws(() => encodeQueryHit({ id, responder: { peerId: peer, addrs: [] }, files: [] }), { code: 'ERR_INVALID_MESSAGE' })
  assert.throws(() => encodePong(0, Array.from({ length: MAX_PONG_ENTRIES + 1 }, () => ({ peerId: peer, addrs: [] }))), { code: 'ERR_INVALID_MESSAGE' })
  // a BYE reason is cut, not refused
  const long = decodeMessage(encodeBye(ByeCode.PROTOCOL_ERROR, 'x'.repeat(1000)))
  assert.ok(long.type === MessageType.BYE && Buffer.byteLength(long.reason) <= 256)
})

test('random bytes never crash the decoder: a message or InvalidMessageError', () => {
  const seeds = Object.values(golden).map(bytes)
  for (let i = 0; i < 5000; i++) {
    let frame: Uint8Array
    if (i % 2 === 0) {
      frame = randomBytes(Math.floor(Math.random() * 64))
    } else {
      frame = Uint8Array.from(seeds[i % seeds.length])
      for (let k = 0; k < 3; k++) frame[Math.floor(Math.random() * frame.byteLength)] = Math.floor(Math.random() * 256)
      if (i % 3 === 0) frame = frame.subarray(0, Math.floor(Math.random() * frame.byteLength))
    }
    try {
      decodeMessage(frame)
    } catch (err) {
      assert.ok(err instanceof InvalidMessageError, `${hex(frame)}: ${String(err)}`)
    }
  }
})
