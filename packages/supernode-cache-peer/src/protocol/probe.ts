import { FramedStream, InvalidMessageError, TimeoutError } from '@sedai/core'
import { PROBE_BYTES, PROBE_FRAME_BYTES, PROBE_MAX_BYTES, PROBE_PROTOCOL, PROBE_TIMEOUT_MS } from './constants.ts'
import type { RateLimiter } from '@sedai/core'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId, Stream } from '@libp2p/interface'

/** What the probe needs of a libp2p node (a Libp2p satisfies it). */
export interface ProbeComponents {
  dialProtocol: (target: PeerId | Multiaddr | Multiaddr[], protocols: string | string[], options?: { signal?: AbortSignal }) => Promise<Stream>
}

/**
 * /sedai/supernode-probe/1.0.0: upload bandwidth, measured by sending.
 *
 *   prober -> [total u32]              then frames of data (<= PROBE_FRAME_BYTES each) until `total` bytes
 *   peer   -> [received u32]           once `total` bytes have arrived
 *
 * The prober's bytes go through its upload limiter (`--upload-rate`), so the
 * measurement sees the same cap its uploads will. total <= PROBE_MAX_BYTES;
 * both sides give up after PROBE_TIMEOUT_MS.
 */
function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

function readU32 (b: Uint8Array, what: string): number {
  if (b.byteLength !== 4) throw new InvalidMessageError(`probe ${what} of ${b.byteLength} bytes, expected 4`)
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0)
}

/** Sends PROBE_BYTES to `peer`; resolves with bytes per second (from the first byte sent to the peer's receipt). */
export async function measureUpload (components: ProbeComponents, peer: PeerId, limiter?: RateLimiter): Promise<number> {
  const signal = AbortSignal.timeout(PROBE_TIMEOUT_MS)
  const stream = await components.dialProtocol(peer, PROBE_PROTOCOL, { signal })
  const framed = new FramedStream(stream, { maxFrameBytes: 16, idleTimeoutMs: PROBE_TIMEOUT_MS })
  try {
    const started = performance.now()
    await framed.write(u32(PROBE_BYTES))
    const data = new Uint8Array(PROBE_FRAME_BYTES).fill(0x5a)
    for (let sent = 0; sent < PROBE_BYTES; sent += PROBE_FRAME_BYTES) {
      const n = Math.min(PROBE_FRAME_BYTES, PROBE_BYTES - sent)
      await limiter?.take(n, signal)
      await framed.write(data.subarray(0, n))
    }
    const ack = await framed.read()
    if (ack === undefined) throw new InvalidMessageError('probe peer closed before acknowledging')
    const received = readU32(ack, 'acknowledgement')
    if (received < PROBE_BYTES) throw new InvalidMessageError(`probe peer acknowledged ${received} of ${PROBE_BYTES} bytes`)
    const seconds = Math.max(1e-3, (performance.now() - started) / 1000)
    await framed.close()
    return PROBE_BYTES / seconds
  } catch (err: any) {
    framed.abort(signal.aborted ? new TimeoutError('probe timed out') : err)
    throw err
  }
}

/** The receiving side: counts the announced bytes and acknowledges them. */
export async function serveProbe (stream: Stream): Promise<void> {
  const framed = new FramedStream(stream, { maxFrameBytes: PROBE_FRAME_BYTES, idleTimeoutMs: PROBE_TIMEOUT_MS })
  try {
    const head = await framed.read()
    if (head === undefined) return
    const total = readU32(head, 'header')
    if (total > PROBE_MAX_BYTES) throw new InvalidMessageError(`probe of ${total} bytes (at most ${PROBE_MAX_BYTES})`)
    let received = 0
    while (received < total) {
      const chunk = await framed.read()
      if (chunk === undefined) throw new InvalidMessageError(`probe ended after ${received} of ${total} bytes`)
      received += chunk.byteLength
    }
    await framed.write(u32(received))
    await framed.close()
  } catch (err: any) {
    framed.abort(err)
    throw err
  }
}
