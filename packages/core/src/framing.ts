import { Uint8ArrayList } from 'uint8arraylist'
import { FrameTooLargeError, TimeoutError, TruncatedFrameError } from './errors.ts'
import type { Stream } from '@libp2p/interface'

/**
 * Length-prefixed frames: a 4-byte big-endian length, then that many bytes.
 * A fixed-width prefix (rather than a varint) lets the reader reject an
 * oversized frame from its first 4 bytes, before buffering any of it.
 */
export const FRAME_HEADER_BYTES = 4

/** The parts of a frame, header first; the body parts are sent without copying. */
export function frame (...body: Uint8Array[]): Uint8ArrayList {
  let length = 0
  for (const b of body) length += b.byteLength
  const header = new Uint8Array(FRAME_HEADER_BYTES)
  new DataView(header.buffer).setUint32(0, length)
  return new Uint8ArrayList(header, ...body)
}

/**
 * Splits a byte source into frames of at most `maxFrameBytes`. Throws
 * FrameTooLargeError as soon as a header announces more, and
 * TruncatedFrameError when the source ends inside a frame.
 */
export async function * readFrames (source: AsyncIterable<Uint8Array | Uint8ArrayList>, maxFrameBytes: number): AsyncGenerator<Uint8Array> {
  const buffer = new Uint8ArrayList()
  let want = -1
  for await (const data of source) {
    buffer.append(data)
    while (true) {
      if (want < 0) {
        if (buffer.byteLength < FRAME_HEADER_BYTES) break
        want = buffer.getUint32(0)
        if (want > maxFrameBytes) {
          throw new FrameTooLargeError(`frame of ${want} bytes exceeds the limit of ${maxFrameBytes}`)
        }
        buffer.consume(FRAME_HEADER_BYTES)
      }
      if (buffer.byteLength < want) break
      // one copy at most: subarray() joins the parts only when the frame spans several
      const body = buffer.subarray(0, want)
      buffer.consume(want)
      want = -1
      yield body
    }
  }
  if (want >= 0 || buffer.byteLength > 0) {
    throw new TruncatedFrameError(`stream ended inside a frame (${buffer.byteLength} of ${want < 0 ? FRAME_HEADER_BYTES : want} bytes)`)
  }
}

export interface FramedStreamInit {
  /** largest frame accepted from the remote */
  maxFrameBytes: number
  /** the stream is aborted when no frame arrives (or none can be sent) for this long */
  idleTimeoutMs: number
}

/**
 * A libp2p stream seen as frames, with backpressure on writes and an idle
 * deadline: every read and write re-arms the timer, and when it fires the
 * stream is aborted with TimeoutError, which ends any pending read or write.
 */
export class FramedStream {
  readonly stream: Stream
  private readonly frames: AsyncGenerator<Uint8Array>
  private readonly idleTimeoutMs: number
  private timer: NodeJS.Timeout | undefined

  constructor (stream: Stream, init: FramedStreamInit) {
    this.stream = stream
    this.idleTimeoutMs = init.idleTimeoutMs
    this.frames = readFrames(stream, init.maxFrameBytes)
    this.touch()
  }

  private touch (): void {
    clearTimeout(this.timer)
    if (this.stream.status !== 'open') return
    this.timer = setTimeout(() => {
      this.stream.abort(new TimeoutError(`stream idle for ${this.idleTimeoutMs} ms`))
    }, this.idleTimeoutMs)
  }

  /** The next frame, or undefined when the remote closed its side cleanly. */
  async read (): Promise<Uint8Array | undefined> {
    let next
    try {
      next = await this.frames.next()
    } catch (err) {
      clearTimeout(this.timer)
      throw err
    }
    if (next.done === true) {
      clearTimeout(this.timer)
      return undefined
    }
    this.touch()
    return next.value
  }

  /** Sends one frame made of `body` parts; waits while the stream needs draining. */
  async write (...body: Uint8Array[]): Promise<void> {
    if (!this.stream.send(frame(...body))) {
      await this.stream.onDrain()
    }
    this.touch()
  }

  /** Closes our writing side and stops the deadline. */
  async close (): Promise<void> {
    clearTimeout(this.timer)
    try {
      await this.stream.close()
    } catch (err: any) {
      this.stream.abort(err)
    }
  }

  abort (err: Error): void {
    clearTimeout(this.timer)
    this.stream.abort(err)
  }
}
