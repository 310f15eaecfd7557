import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { decodeReply, decodeRequest, encodeChunkReply, encodeChunkRequest, encodeOpen, encodeOpenReply, MessageType, Status } from '../../src/transfer/messages.ts'

const join = (parts: Uint8Array[]): Uint8Array => Buffer.concat(parts)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

async function golden (): Promise<Record<string, string>> {
  return JSON.parse(await readFile(new URL('../fixtures/transfer-messages.json', import.meta.url), 'utf8'))
}

const CID_BYTES = Uint8Array.from(Buffer.from('01711220' + 'ab'.repeat(32), 'hex'))

test('transfer messages encode to the golden bytes and decode back', async () => {
  const g = await golden()
  const cases: Array<[string, Uint8Array]> = [
    ['open', join(encodeOpen({ cid: CID_BYTES, wantManifest: true }))],
    ['openNoManifest', join(encodeOpen({ cid: CID_BYTES, wantManifest: false }))],
    ['openReplyOk', join(encodeOpenReply({ status: Status.OK, manifest: Uint8Array.of(0xa5, 1, 2) }))],
    ['openReplyNotFound', join(encodeOpenReply({ status: Status.NOT_FOUND, error: 'not shared here' }))],
    ['chunkRequest', join(encodeChunkRequest(0x01020304))],
    ['chunkReplyOk', join(encodeChunkReply({ status: Status.OK, index: 7, data: Uint8Array.of(1, 2, 3, 4) }))],
    ['chunkReplyError', join(encodeChunkReply({ status: Status.ERROR, index: 9, error: 'read failed' }))]
  ]
  for (const [name, bytes] of cases) assert.equal(hex(bytes), g[name], name)

  const open = decodeRequest(cases[0][1])
  assert.equal(open.type, MessageType.OPEN)
  assert.ok(open.type === MessageType.OPEN && open.wantManifest && hex(open.cid) === hex(CID_BYTES))
  assert.deepEqual(decodeRequest(cases[4][1]), { type: MessageType.CHUNK_REQUEST, index: 0x01020304 })
  const reply = decodeReply(cases[5][1])
  assert.ok(reply.type === MessageType.CHUNK_REPLY && reply.index === 7 && hex(reply.data as Uint8Array) === '01020304')
  assert.deepEqual(decodeReply(cases[3][1]), { type: MessageType.OPEN_REPLY, status: Status.NOT_FOUND, error: 'not shared here' })
})

test('malformed transfer messages give InvalidMessageError, never a crash', () => {
  const bad: Uint8Array[] = [
    new Uint8Array(0),
    Uint8Array.of(99),
    Uint8Array.of(MessageType.OPEN),
    Uint8Array.of(MessageType.OPEN, 0x80, 1, 2), // unknown flag
    Uint8Array.of(MessageType.OPEN, 0, ...new Uint8Array(200)), // cid too long
    Uint8Array.of(MessageType.CHUNK_REQUEST, 0, 0, 0), // truncated index
    Uint8Array.of(MessageType.CHUNK_REQUEST, 0, 0, 0, 1, 0), // trailing byte
    Uint8Array.of(MessageType.OPEN_REPLY, 0) // a reply sent to a server
  ]
  for (const b of bad) assert.throws(() => decodeRequest(b), { code: 'ERR_INVALID_MESSAGE' }, hex(b))
  const badReplies: Uint8Array[] = [
    Uint8Array.of(MessageType.CHUNK_REPLY),
    Uint8Array.of(MessageType.CHUNK_REPLY, 7, 0, 0, 0, 0), // unknown status
    Uint8Array.of(MessageType.CHUNK_REPLY, 0, 0, 0), // no index
    Uint8Array.of(MessageType.OPEN_REPLY, 2, ...new Uint8Array(300)), // error text too long
    Uint8Array.of(MessageType.CHUNK_REQUEST, 0, 0, 0, 0)
  ]
  for (const b of badReplies) assert.throws(() => decodeReply(b), { code: 'ERR_INVALID_MESSAGE' }, hex(b))
  for (let i = 0; i < 2000; i++) {
    const b = crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 12)))
    for (const decode of [decodeRequest, decodeReply]) {
      try { decode(b) } catch (err: any) { assert.equal(err.code, 'ERR_INVALID_MESSAGE') }
    }
  }
})
