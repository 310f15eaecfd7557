import { atTurnEnd, frame } from '@sedai/core'
import type { FramedStream } from '@sedai/core'

/**
 * Frames queued on a session stream and sent together, once per turn of the
 * event loop. With several requests in flight on a session, the replies (or
 * requests) produced in one turn then share one muxer frame, one Noise
 * message and one socket write instead of one each: per message, those cost
 * more than answering a cached search.
 */
export class Outbox {
  private readonly framed: FramedStream
  private readonly onError: (err: Error) => void
  private readonly onWrite?: (frames: number) => void
  private batch?: ReturnType<typeof frame>
  private frames = 0
  private scheduled = false
  private drain?: Promise<void>

  /** `onError`: the stream refused a write (it is closed or aborted); `onWrite`: a write went out with that many frames */
  constructor (framed: FramedStream, onError: (err: Error) => void, onWrite?: (frames: number) => void) {
    this.framed = framed
    this.onError = onError
    this.onWrite = onWrite
  }

  /** Queues one frame; it goes out at the end of this turn (or with `flush`). */
  push (body: Uint8Array): void {
    const f = frame(body)
    if (this.batch === undefined) this.batch = f
    else this.batch.append(f)
    this.frames++
    if (!this.scheduled) {
      this.scheduled = true
      atTurnEnd(() => { this.flush() })
    }
  }

  /** Sends what is queued now, as one write. */
  flush (): void {
    this.scheduled = false
    const batch = this.batch
    if (batch === undefined) return
    this.batch = undefined
    this.onWrite?.(this.frames)
    this.frames = 0
    try {
      if (!this.framed.stream.send(batch) && this.drain === undefined) {
        this.drain = this.framed.stream.onDrain().catch(() => {}).finally(() => { this.drain = undefined })
      }
    } catch (err: any) {
      this.onError(err)
    }
  }

  /** Resolves once the stream takes more data: a writer waits for it before queueing more (backpressure). */
  async ready (): Promise<void> {
    if (this.drain !== undefined) await this.drain
  }

  /** Bytes queued and not yet handed to the stream. */
  get queuedBytes (): number {
    return this.batch?.byteLength ?? 0
  }
}
