import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RelayClient } from '../../src/overlay/relay-client.ts'
import { RelayStatus, decodeMessage } from '../../src/protocol/messages.ts'
import type { Neighbour } from '../../src/neighbours.ts'
import type { RelayRequest } from '../../src/protocol/messages.ts'

/** A neighbour that records what is sent on it (only send is used). */
function recorder (accept = true): { neighbour: Neighbour, sent: RelayRequest[] } {
  const sent: RelayRequest[] = []
  const neighbour = { send: (msg: { bytes: Uint8Array }) => { sent.push(decodeMessage(msg.bytes) as RelayRequest); return accept } } as unknown as Neighbour
  return { neighbour, sent }
}

test('a relayed request is settled by the reply with its id; NOT_FOUND and ERROR replies throw with codes', async () => {
  const client = new RelayClient({ ttl: 7, timeoutMs: 5000 })
  const { neighbour, sent } = recorder()
  const range = { target: 'peer', cid: 'cid', index: 0, offset: 0, length: 4 }
  const ok = client.request(neighbour, range)
  assert.equal(sent[0].ttl, 7)
  assert.equal(client.onReply({ type: 7, id: new Uint8Array(16), status: RelayStatus.OK, total: 4 } as any), false, 'an unknown id settles nothing')
  assert.equal(client.onReply({ type: 7, id: sent[0].id, status: RelayStatus.OK, total: 4, data: Uint8Array.of(1, 2, 3, 4) } as any), true)
  assert.deepEqual(await ok, { total: 4, data: Uint8Array.of(1, 2, 3, 4) })
  const missing = client.request(neighbour, range)
  client.onReply({ type: 7, id: sent[1].id, status: RelayStatus.NOT_FOUND, total: 0, error: 'gone' } as any)
  await assert.rejects(missing, { code: 'ERR_NOT_FOUND' })
})

test('a relayed request unanswered by its deadline, or refused by the link, times out', async () => {
  const client = new RelayClient({ ttl: 7, timeoutMs: 50 })
  const range = { target: 'peer', cid: 'cid', index: 0, offset: 0, length: 4 }
  // AbortSignal.timeout does not hold the event loop open (in a daemon the links do)
  const hold = setTimeout(() => {}, 5000)
  await assert.rejects(client.request(recorder().neighbour, range), { code: 'ERR_TIMEOUT' })
  await assert.rejects(client.request(recorder(false).neighbour, range), { code: 'ERR_TIMEOUT' })
  clearTimeout(hold)
})
