import assert from 'node:assert/strict'
import { test } from 'node:test'
import { streamPair } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import { FramedStream, frame, readFrames } from '../src/framing.ts'

async function * chunks (...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield * parts
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const f of source) out.push(Uint8Array.from(f))
  return out
}

test('frame() prefixes a 4-byte big-endian length (golden bytes)', () => {
  const f = frame(Uint8Array.of(0xaa, 0xbb), Uint8Array.of(0xcc))
  assert.deepEqual(f.subarray(), Uint8Array.of(0, 0, 0, 3, 0xaa, 0xbb, 0xcc))
})

test('readFrames splits frames across arbitrary chunk boundaries', async () => {
  const bytes = new Uint8ArrayList(frame(Uint8Array.of(1, 2, 3)), frame(), frame(new Uint8Array(1000).fill(7))).subarray()
  for (const cut of [1, 2, 3, 5, 7, 100, bytes.byteLength]) {
    const parts: Uint8Array[] = []
    for (let i = 0; i < bytes.byteLength; i += cut) parts.push(bytes.subarray(i, i + cut))
    const frames = await collect(readFrames(chunks(...parts), 2000))
    assert.deepEqual(frames.map(f => f.byteLength), [3, 0, 1000], `cut ${cut}`)
    assert.deepEqual(frames[0], Uint8Array.of(1, 2, 3))
  }
})

test('readFrames rejects an oversized length prefix before reading the body', async () => {
  await assert.rejects(collect(readFrames(chunks(Uint8Array.of(0xff, 0xff, 0xff, 0xff)), 1024)), { code: 'ERR_FRAME_TOO_LARGE' })
})

test('readFrames rejects a truncated frame and a truncated header', async () => {
  await assert.rejects(collect(readFrames(chunks(Uint8Array.of(0, 0, 0, 5, 1, 2)), 1024)), { code: 'ERR_TRUNCATED_FRAME' })
  await assert.rejects(collect(readFrames(chunks(Uint8Array.of(0, 0)), 1024)), { code: 'ERR_TRUNCATED_FRAME' })
})

test('FramedStream moves frames over a stream pair and aborts an idle stream', async () => {
  const [a, b] = await streamPair()
  const fa = new FramedStream(a, { maxFrameBytes: 1 << 20, idleTimeoutMs: 5_000 })
  const fb = new FramedStream(b, { maxFrameBytes: 1 << 20, idleTimeoutMs: 100 })
  await fa.write(Uint8Array.of(9, 8, 7))
  assert.deepEqual(Uint8Array.from(await fb.read() as Uint8Array), Uint8Array.of(9, 8, 7))
  // nothing more is sent: b's idle deadline must end its pending read
  const started = Date.now()
  await assert.rejects(fb.read(), { code: 'ERR_TIMEOUT' })
  assert.ok(Date.now() - started < 2_000)
  fa.abort(new Error('done'))
})
