/**
 * The capacity probe on an in-memory stream pair: measureUpload against
 * serveProbe, with and without an upload cap; serveProbe's bound.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { streamPair } from '@libp2p/utils'
import { FramedStream, InvalidMessageError, RateLimiter } from '@sedai/core'
import { measureUpload, serveProbe } from '../src/protocol/probe.ts'
import { PROBE_FRAME_BYTES, PROBE_MAX_BYTES, PROBE_PROTOCOL } from '../src/protocol/constants.ts'
import type { PeerId, Stream } from '@libp2p/interface'

const PEER = { toString: () => '12D3KooWProbePeer' } as unknown as PeerId

/** A dialProtocol whose remote end is served by serveProbe; `served` settles when the server is done. */
function probePeer (): { dialProtocol: (peer: any, protocol: string | string[]) => Promise<Stream>, served: Array<Promise<void>>, asked: string[] } {
  const served: Array<Promise<void>> = []
  const asked: string[] = []
  return {
    served,
    asked,
    dialProtocol: async (_peer, protocol) => {
      asked.push(String(protocol))
      const [local, far] = await streamPair({ protocol: PROBE_PROTOCOL })
      served.push(serveProbe(far))
      return local
    }
  }
}

function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

test('measureUpload against serveProbe: a positive rate, on the probe protocol', async () => {
  const peer = probePeer()
  const bps = await measureUpload(peer, PEER)
  assert.ok(Number.isFinite(bps) && bps > 0, `${bps} bytes/s`)
  assert.deepEqual(peer.asked, [PROBE_PROTOCOL])
  await Promise.all(peer.served) // the server counted every byte and acknowledged without error
})

test('measureUpload through a 200 KiB/s limiter measures about the cap', async () => {
  const cap = 200 * 1024
  const peer = probePeer()
  const started = performance.now()
  const bps = await measureUpload(peer, PEER, new RateLimiter(cap))
  const seconds = (performance.now() - started) / 1000
  assert.ok(bps > cap / 2 && bps < cap * 2, `${Math.round(bps / 1024)} KiB/s measured under a ${cap / 1024} KiB/s cap`)
  assert.ok(seconds > 1, `the cap slowed the probe down (${seconds.toFixed(2)} s)`)
  await Promise.all(peer.served)
})

test('serveProbe refuses a header announcing more than PROBE_MAX_BYTES, and accepts exactly PROBE_MAX_BYTES', async () => {
  {
    const [local, far] = await streamPair({ protocol: PROBE_PROTOCOL })
    const served = serveProbe(far)
    const prober = new FramedStream(local, { maxFrameBytes: 16, idleTimeoutMs: 5000 })
    await prober.write(u32(PROBE_MAX_BYTES + 1))
    await assert.rejects(served, InvalidMessageError)
    // no acknowledgement comes back: the read fails or the stream just ends
    await assert.rejects(async () => { if (await prober.read() === undefined) throw new Error('ended') })
  }
  {
    const [local, far] = await streamPair({ protocol: PROBE_PROTOCOL })
    const served = serveProbe(far)
    const prober = new FramedStream(local, { maxFrameBytes: 16, idleTimeoutMs: 5000 })
    await prober.write(u32(PROBE_MAX_BYTES))
    const data = new Uint8Array(PROBE_FRAME_BYTES)
    for (let sent = 0; sent < PROBE_MAX_BYTES; sent += PROBE_FRAME_BYTES) await prober.write(data)
    const ack = await prober.read()
    assert.ok(ack !== undefined)
    assert.equal(new DataView(ack.buffer, ack.byteOffset, 4).getUint32(0), PROBE_MAX_BYTES)
    await served
    await prober.close()
  }
})
