import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { hitsFromReply } from '../src/client.ts'
import { decodeReply, decodeRequest, encodeMessage, encodeSearchReply, peekId } from '../src/messages.ts'

const LIMITS = { maxFilesPerRegister: 3, maxUnregister: 3, maxAddrs: 2 }
const golden = JSON.parse(readFileSync(new URL('./fixtures/directory-messages.json', import.meta.url), 'utf8')) as Array<{ name: string, request: boolean, text: string }>
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

test('golden messages decode and re-encode to the same bytes', () => {
  for (const g of golden) {
    const decoded = g.request ? decodeRequest(bytes(g.text), LIMITS) : decodeReply(bytes(g.text))
    const clean = JSON.parse(JSON.stringify(decoded))
    assert.deepEqual(encodeMessage(clean), bytes(g.text), g.name)
  }
})

test('a SEARCH reply assembled from encoded parts is the golden one, byte for byte', () => {
  const golden1 = golden.find(g => g.name === 'SEARCH reply')!.text
  const reply = JSON.parse(golden1)
  const entries = Object.entries(reply.peers).map(([k, v]) => bytes(`${JSON.stringify(k)}:${JSON.stringify(v)}`))
  assert.deepEqual(encodeSearchReply(reply.id, bytes(JSON.stringify(reply.hits)), entries), bytes(golden1))
  // several providers, and none
  const two = { id: 7, status: 0, hits: [['c', 'n', 1, 2, [1, 2]]], peers: { 1: { peerId: 'a', addrs: [], live: true }, 2: { peerId: 'b', addrs: ['/x'], live: false } } }
  const parts = Object.entries(two.peers).map(([k, v]) => bytes(`${JSON.stringify(k)}:${JSON.stringify(v)}`))
  assert.deepEqual(encodeSearchReply(7, bytes(JSON.stringify(two.hits)), parts), encodeMessage(two))
  assert.deepEqual(encodeSearchReply(8, bytes('[]'), []), encodeMessage({ id: 8, status: 0, hits: [], peers: {} }))
})

test('a SEARCH reply resolves providers from its peer table', () => {
  const reply = decodeReply(bytes(golden.find(g => g.name === 'SEARCH reply')!.text))
  const [hit] = hitsFromReply(reply)
  assert.equal(hit.name, 'ピアツーピア入門.pdf')
  assert.equal(hit.providerCount, 1)
  assert.deepEqual(hit.providers.map(p => p.peerId), ['12D3KooWJoWc1EvxkcxoRsQh5abbye92vE6XCBsYKbgPyqP923uS'])
})

test('malformed requests are refused with a clear error, never a crash', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /not a UTF-8 JSON message/],
    ['{not json', /not a UTF-8 JSON message/],
    ['[1,2]', /JSON object/],
    ['{"type":"SEARCH","q":"x"}', /id must be/],
    ['{"type":"SEARCH","id":-1,"q":"x"}', /id must be/],
    ['{"type":"NUKE","id":1}', /unknown message type/],
    ['{"type":"SEARCH","id":1,"q":5}', /q must be a string/],
    ['{"type":"SEARCH","id":1,"q":"x","max":1.5}', /max must be a whole number/],
    ['{"type":"REGISTER","id":1,"files":"x"}', /files must be a list/],
    ['{"type":"REGISTER","id":1,"files":[["a","b",1],["a","b",1],["a","b",1],["a","b",1]]}', /at most 3/],
    ['{"type":"REGISTER","id":1,"files":[["a","b"]]}', /\[cid, name, size\]/],
    ['{"type":"REGISTER","id":1,"files":[["a","b",-4]]}', /size must be a whole number/],
    ['{"type":"REGISTER","id":1,"files":[],"reset":"yes"}', /reset must be/],
    ['{"type":"HELLO","id":1,"addrs":["a","b","c"]}', /at most 2/],
    ['{"type":"UNREGISTER","id":1,"cids":[1]}', /must be a string/]
  ]
  for (const [text, error] of bad) {
    assert.throws(() => decodeRequest(bytes(text), LIMITS), (err: any) => err.code === 'ERR_INVALID_MESSAGE' && error.test(err.message), text)
  }
  assert.equal(peekId(bytes('{"id":7,"type":"NUKE"}')), 7)
  assert.equal(peekId(bytes('garbage')), 0)
  // invalid UTF-8 and random bytes
  assert.throws(() => decodeRequest(Uint8Array.of(0xff, 0xfe, 0x7b), LIMITS), { code: 'ERR_INVALID_MESSAGE' })
  for (let i = 0; i < 200; i++) {
    try {
      decodeRequest(randomBytes(1 + (i % 64)), LIMITS)
    } catch (err: any) {
      assert.equal(err.code, 'ERR_INVALID_MESSAGE')
    }
  }
  assert.throws(() => decodeReply(bytes('{"id":1,"status":9}')), /unknown status/)
})
