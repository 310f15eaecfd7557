import { FramedStream, TimeoutError } from '@sedai/core'
import { DIRECTORY_PROTOCOL } from './constants.ts'
import { DirectoryUnavailableError } from './errors.ts'
import { decodeReply, encodeMessage } from './messages.ts'
import { Outbox } from './outbox.ts'
import type { Reply, Request } from './messages.ts'
import type { Connection, Stream } from '@libp2p/interface'

/** A request distributed by id; the type is filled in by `request`. */
export type RequestBody = Omit<Request, 'id'> | (Record<string, unknown> & { type: string })

interface Pending {
  resolve: (r: Reply) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export interface SessionInit {
  maxReplyFrameBytes: number
  /** the stream is aborted when nothing moves for this long (ms) */
  idleTimeoutMs: number
}

/**
 * A peer's session stream to the directory server: requests go out with
 * increasing ids, replies are matched by id. Several requests may be in
 * flight (the server answers them in order). When the stream ends, every
 * pending request fails and `closed` resolves.
 */
export class DirectorySession {
  readonly connection: Connection
  private readonly framed: FramedStream
  /** requests made in the same turn of the event loop go out in one write */
  private readonly outbox: Outbox
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private ended?: Error
  readonly closed: Promise<Error>
  private resolveClosed!: (err: Error) => void

  constructor (connection: Connection, stream: Stream, init: SessionInit) {
    this.connection = connection
    // the session itself has no idle deadline: heartbeats and request timeouts watch it
    this.framed = new FramedStream(stream, { maxFrameBytes: init.maxReplyFrameBytes, idleTimeoutMs: init.idleTimeoutMs })
    this.closed = new Promise(resolve => { this.resolveClosed = resolve })
    this.outbox = new Outbox(this.framed, err => { this.abort(err) })
    void this.readLoop()
  }

  /** Dials nothing: opens the protocol on an existing connection. */
  static async open (connection: Connection, init: SessionInit & { signal?: AbortSignal }): Promise<DirectorySession> {
    const stream = await connection.newStream(DIRECTORY_PROTOCOL, { signal: init.signal })
    return new DirectorySession(connection, stream, init)
  }

  get isOpen (): boolean {
    return this.ended === undefined
  }

  private async readLoop (): Promise<void> {
    let reason: Error = new DirectoryUnavailableError('the directory server closed the session')
    try {
      while (true) {
        const bytes = await this.framed.read()
        if (bytes === undefined) break
        const reply = decodeReply(bytes)
        const p = this.pending.get(reply.id)
        if (p === undefined) {
          // id 0: the server refused something it could not attribute (an oversized frame)
          if (reply.id === 0 && reply.error !== undefined) reason = new DirectoryUnavailableError(`the directory server closed the session: ${reply.error}`)
          continue
        }
        this.pending.delete(reply.id)
        clearTimeout(p.timer)
        p.resolve(reply)
      }
    } catch (err: any) {
      reason = new DirectoryUnavailableError(`lost the directory server: ${err.message}`)
    }
    this.end(reason)
  }

  private end (reason: Error): void {
    if (this.ended !== undefined) return
    this.ended = reason
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(reason)
    }
    this.pending.clear()
    this.resolveClosed(reason)
  }

  /** Sends one request and waits for its reply (any status), at most `timeoutMs`. */
  async request (body: RequestBody, timeoutMs: number, signal?: AbortSignal): Promise<Reply> {
    if (this.ended !== undefined) throw this.ended
    signal?.throwIfAborted()
    const id = this.nextId++
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new TimeoutError(`the directory server did not answer ${String(body.type)} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
    })
    const onAbort = (): void => {
      const p = this.pending.get(id)
      if (p === undefined) return
      this.pending.delete(id)
      clearTimeout(p.timer)
      p.reject(signal?.reason ?? new TimeoutError('aborted'))
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      await this.outbox.ready()
      if (this.ended !== undefined) throw this.ended
      this.outbox.push(encodeMessage({ ...body, id }))
      return await reply
    } catch (err) {
      const p = this.pending.get(id)
      if (p !== undefined) {
        this.pending.delete(id)
        clearTimeout(p.timer)
      }
      reply.catch(() => {})
      throw err
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** Sends raw bytes as one frame (tests use this to send what a well-behaved peer never would). */
  async sendRaw (bytes: Uint8Array): Promise<void> {
    this.outbox.push(bytes)
    this.outbox.flush()
    await this.outbox.ready()
  }

  close (): void {
    this.end(new DirectoryUnavailableError('session closed'))
    this.outbox.flush()
    this.framed.close().catch(() => {})
  }

  abort (err: Error): void {
    this.end(err instanceof DirectoryUnavailableError ? err : new DirectoryUnavailableError(err.message))
    this.framed.abort(err)
  }
}
