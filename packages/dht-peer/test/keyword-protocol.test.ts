/**
 * /sedai/dht-keywords/1.0.0 on in-memory stream pairs: a real server and a
 * real client against each other, and each against a hostile or silent peer.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { streamPair } from '@libp2p/utils'
import { CID } from 'multiformats/cid'
import { FramedStream, Stats } from '@sedai/core'
import { keywords, matches } from '../src/keywords.ts'
import { MAX_QUERY_FRAME_BYTES, MAX_RESULT_FRAME_BYTES } from '../src/protocol/constants.ts'
import { askKeywords, serveKeywordQuery } from '../src/protocol/keyword-protocol.ts'
import { Status, decodeResult, encodeQuery, encodeResult } from '../src/protocol/messages.ts'
import type { ResultFile } from '../src/protocol/messages.ts'

const CID_BYTES = CID.parse('bafyreicpipejz6lacgkdwfwwjitmofegrrdlzwyy2zwurpeiibl23k2nwq').bytes
const FILES = [
  { cid: CID_BYTES, size: 10, name: '名古屋の観光ガイド.txt' },
  { cid: CID_BYTES, size: 20, name: 'kademlia-notes.pdf' }
]
const match = (kws: string[]): ResultFile[] => FILES.filter(f => matches(keywords(f.name), kws))

test('a query is answered with the matching files; no match is NOT_FOUND, i.e. []', async () => {
  const [client, server] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  const stats = new Stats()
  const served = serveKeywordQuery(server, { match, stats })
  const files = await askKeywords(client, keywords('名古屋'))
  await served
  assert.deepEqual(files.map(f => f.name), ['名古屋の観光ガイド.txt'])
  assert.equal(stats.get('messages.dhtKeywords.in.QUERY'), 1)
  assert.equal(stats.get('messages.dhtKeywords.out.RESULT'), 1)

  const [c2, s2] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  const served2 = serveKeywordQuery(s2, { match })
  assert.deepEqual(await askKeywords(c2, ['nothing']), [])
  await served2
})

test('a malformed query gets an ERROR reply, not a crash; the client turns it into RemoteError', async () => {
  const [client, server] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  const served = serveKeywordQuery(server, { match })
  const framed = new FramedStream(client, { maxFrameBytes: MAX_RESULT_FRAME_BYTES, idleTimeoutMs: 2000 })
  await framed.write(Uint8Array.of(1, 0))
  const reply = decodeResult(await framed.read() as Uint8Array)
  assert.equal(reply.status, Status.ERROR)
  assert.match(reply.error ?? '', /0 keywords/)
  await framed.close()
  await served

  // a server that answers ERROR
  const [c2, s2] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  const fake = new FramedStream(s2, { maxFrameBytes: MAX_QUERY_FRAME_BYTES, idleTimeoutMs: 2000 })
  const asked = askKeywords(c2, ['ab'])
  await fake.read()
  await fake.write(encodeResult({ status: Status.ERROR, error: 'busy' }))
  await assert.rejects(asked, { code: 'ERR_REMOTE' })
})

test('an oversized frame header is refused before its body is read', async () => {
  const [client, server] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  const served = serveKeywordQuery(server, { match })
  const framed = new FramedStream(client, { maxFrameBytes: MAX_RESULT_FRAME_BYTES, idleTimeoutMs: 2000 })
  const header = new Uint8Array(4)
  new DataView(header.buffer).setUint32(0, MAX_QUERY_FRAME_BYTES + 1)
  client.send(header)
  const reply = decodeResult(await framed.read() as Uint8Array)
  assert.equal(reply.status, Status.ERROR)
  assert.match(reply.error ?? '', /exceeds/)
  await served
})

test('a malformed RESULT is InvalidMessageError on the client', async () => {
  const [client, server] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  const fake = new FramedStream(server, { maxFrameBytes: MAX_QUERY_FRAME_BYTES, idleTimeoutMs: 2000 })
  const asked = askKeywords(client, ['ab'])
  await fake.read()
  await fake.write(Uint8Array.of(2, 0, 0, 1, 0))
  await assert.rejects(asked, { code: 'ERR_INVALID_MESSAGE' })
})

test('deadlines: a silent client is cut off by the server, a silent server by the client', async () => {
  const [client, server] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  const started = Date.now()
  await assert.rejects(serveKeywordQuery(server, { match, timeoutMs: 200 }), { code: 'ERR_TIMEOUT' })
  assert.ok(Date.now() - started < 2000)
  client.abort(new Error('done'))

  const [c2, s2] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  await assert.rejects(askKeywords(c2, ['ab'], { timeoutMs: 200 }), { code: 'ERR_TIMEOUT' })
  s2.abort(new Error('done'))

  // the caller's signal ends it too
  const [c3, s3] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  const controller = new AbortController()
  const asked = askKeywords(c3, ['ab'], { signal: controller.signal, timeoutMs: 5000 })
  controller.abort(new Error('caller gave up'))
  await assert.rejects(asked)
  s3.abort(new Error('done'))
})

test('the client refuses to send a query the codec forbids', async () => {
  const [client, server] = await streamPair({ protocol: '/sedai/dht-keywords/1.0.0' })
  await assert.rejects(askKeywords(client, []), { code: 'ERR_INVALID_MESSAGE' })
  server.abort(new Error('done'))
  assert.throws(() => encodeQuery([]), { code: 'ERR_INVALID_MESSAGE' })
})
