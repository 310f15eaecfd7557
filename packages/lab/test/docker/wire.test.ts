import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AgentProtocolError } from '../../src/errors.ts'
import { LineDecoder, encodeLine, isAgentRequest, sameToken } from '../../src/docker/wire.ts'

test('a request line: golden bytes, and decoded whole across any chunk boundary', () => {
  const line = encodeLine({ id: 7, token: 'tok', req: { op: 'stats', indexes: [3] } })
  assert.equal(line, '{"id":7,"token":"tok","req":{"op":"stats","indexes":[3]}}\n')
  const bytes = Buffer.from(line + line)
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new LineDecoder(1024)
    const got = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))]
    assert.equal(got.length, 2, `cut at ${cut}`)
    for (const g of got) assert.ok(isAgentRequest(g))
  }
})

test('a line over the cap is refused before it is buffered whole; a line that is not JSON is refused', () => {
  const d = new LineDecoder(64)
  assert.throws(() => d.push(Buffer.alloc(65, 'a')), (err: any) => err instanceof AgentProtocolError && err.code === 'ERR_LAB_AGENT_PROTOCOL' && /longer than 64 bytes/.test(err.message))
  const d2 = new LineDecoder(64)
  d2.push(Buffer.alloc(40, 'a'))
  assert.throws(() => d2.push(Buffer.alloc(40, 'a')), /longer than 64 bytes/)
  assert.throws(() => new LineDecoder(64).push(Buffer.from('{"id":\n')), /not JSON/)
  assert.deepEqual(new LineDecoder(64).push(Buffer.from('\n\n{"a":1}\n')), [{ a: 1 }])
})

test('request shape and token checks', () => {
  assert.equal(isAgentRequest({ id: 1, token: 't', req: { op: 'memory' } }), true)
  for (const bad of [null, 1, {}, { id: 1.5, token: 't', req: { op: 'memory' } }, { id: 1, req: { op: 'memory' } }, { id: 1, token: 't', req: null }, { id: 1, token: 't', req: { op: 3 } }]) {
    assert.equal(isAgentRequest(bad), false, JSON.stringify(bad))
  }
  assert.equal(sameToken('abc', 'abc'), true)
  assert.equal(sameToken('abc', 'abd'), false)
  assert.equal(sameToken('abc', 'abcd'), false)
})
