import assert from 'node:assert/strict'
import { Socket } from 'node:net'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import { FramedStream } from '../src/framing.ts'
import { createNode } from '../src/node.ts'
import { coalesceWrites } from '../src/tcp-writes.ts'
import type { Stream } from '@libp2p/interface'

const PROTOCOL = '/sedai/test-echo/1.0.0'
const MESSAGES = 200
const BYTES = 15_000

/**
 * Writes handed to the kernel while `fn` runs (every socket of this process):
 * net.Socket's `_write` (one chunk) and `_writev` (the chunks a cork gathered) each make one.
 */
async function countWrites (fn: () => Promise<void>): Promise<number> {
  const proto = Socket.prototype as any
  const write = proto._write
  const writev = proto._writev
  let writes = 0
  proto._write = function (...args: any[]) { writes++; return write.apply(this, args) }
  proto._writev = function (...args: any[]) { writes++; return writev.apply(this, args) }
  try {
    await fn()
  } finally {
    proto._write = write
    proto._writev = writev
  }
  return writes
}

/** Two nodes, an echo protocol, and `MESSAGES` request/reply round trips of `BYTES` each way: socket writes per message. */
async function writesPerMessage (t: any, make: () => Promise<any>): Promise<number> {
  const a = await make()
  const b = await make()
  t.after(async () => { await a.stop(); await b.stop() })
  await a.handle(PROTOCOL, async (stream: Stream) => {
    const framed = new FramedStream(stream, { maxFrameBytes: 1 << 20, idleTimeoutMs: 10_000 })
    for (let m = await framed.read(); m !== undefined; m = await framed.read()) await framed.write(m)
    await framed.close()
  })
  const conn = await b.dial(a.getMultiaddrs()[0])
  const stream = await conn.newStream(PROTOCOL)
  const framed = new FramedStream(stream, { maxFrameBytes: 1 << 20, idleTimeoutMs: 10_000 })
  const body = new Uint8Array(BYTES).fill(7)
  // one round trip first, so identify and the stream's opening are not counted
  await framed.write(body)
  await framed.read()
  const writes = await countWrites(async () => {
    for (let i = 0; i < MESSAGES; i++) {
      await framed.write(body)
      const echo = await framed.read()
      assert.equal(echo?.byteLength, BYTES)
    }
  })
  await framed.close()
  return writes / (2 * MESSAGES)
}

test('coalescedTcp: one socket write per message (libp2p alone makes four)', async (t) => {
  const perMessage = await writesPerMessage(t, async () => await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], connectionMonitor: false }))
  t.diagnostic(`${perMessage} socket writes per message`)
  // each message and the window update it causes share a write; a stray update or ping may add one
  assert.ok(perMessage <= 1.1, `${perMessage} socket writes per message`)
})

test('coalesceWrites: the sends of a turn leave in one socket write, a full buffer at once, bytes in order', async () => {
  const written: Buffer[][] = []
  const socket = new Socket()
  // a socket that records what it is given instead of sending it
  ;(socket as any)._writev = (chunks: Array<{ chunk: Buffer }>, cb: () => void) => { written.push(chunks.map(c => c.chunk)); cb() }
  ;(socket as any)._write = (chunk: Buffer, _enc: string, cb: () => void) => { written.push([chunk]); cb() }
  const maConn = {
    socket,
    sendData (data: Uint8ArrayList) {
      let canSendMore = true
      for (const buf of data) canSendMore = socket.write(buf)
      return { sentBytes: data.byteLength, canSendMore }
    }
  }
  assert.equal(coalesceWrites(maConn as any), true)
  const send = (maConn as any).sendData.bind(maConn)
  assert.deepEqual(send(new Uint8ArrayList(Uint8Array.of(0, 3), Uint8Array.of(1, 2, 3))), { sentBytes: 5, canSendMore: true })
  send(new Uint8ArrayList(Uint8Array.of(4)))
  assert.equal(written.length, 0, 'nothing written before the turn ends')
  await new Promise(resolve => setImmediate(resolve))
  // the two sends in one write; each send's buffers joined into one
  assert.deepEqual(written.map(w => w.map(b => [...b])), [[[0, 3, 1, 2, 3], [4]]])
  // a send the socket cannot take whole (over its high-water mark) goes at once
  written.length = 0
  const big = new Uint8Array(socket.writableHighWaterMark + 1)
  assert.equal(send(new Uint8ArrayList(big)).canSendMore, false)
  assert.equal(written.length, 1)
  assert.equal(written[0][0].byteLength, big.byteLength)
  // a connection of another shape is left alone
  assert.equal(coalesceWrites({ sendData () {} } as any), false)
})

test('coalescedTcp: plain @libp2p/tcp with the same Noise and yamux writes each message in several socket writes', async (t) => {
  // the reason for tcp-writes.ts; when this fails, upstream sends one buffer per message again and the wrapper can go
  const plain = async (): Promise<any> => await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false }
  })
  const perMessage = await writesPerMessage(t, plain)
  t.diagnostic(`${perMessage} socket writes per message`)
  assert.ok(perMessage >= 3, `${perMessage} socket writes per message`)
})
