import { FramedStream, TimeoutError } from '@sedai/core'
import { DIRECTORY_PROTOCOL, MAX_SESSION_PEERS } from './constants.ts'
import { DirectoryUnavailableError } from './errors.ts'
import { decodeReply, encodeMessage } from './messages.ts'
import { Outbox } from './outbox.ts'
import type { ProviderInfo, Reply, Request } from './messages.ts'
import type { Connection, Stream } from '@libp2p/interface'

function isProviderInfo (v: unknown): v is ProviderInfo {
  const p = v as ProviderInfo
  return typeof p === 'object' && p !== null && typeof p.peerId === 'string' && Array.isArray(p.addrs) && p.addrs.every(a => typeof a === 'string') && typeof p.live === 'boolean'
}

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
  /** the peer table the server has sent on this session (a SEARCH reply carries only what is new) */
  private readonly peers = new Map<string, ProviderInfo>()
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
        // every reply passes here in order, so the table is that of the server when it answered
        this.completePeers(reply)
        p.resolve(reply)
      }
    } catch (err: any) {
      reason = new DirectoryUnavailableError(`lost the directory server: ${err.message}`)
    }
    this.end(reason)
  }

  /**
   * Merges a SEARCH reply's new peer-table entries into the session's table
   * and gives the reply the entries of every peer its hits name, as if the
   * server had sent them all.
   */
  private completePeers (reply: Reply): void {
    const sent = reply.peers
    if (typeof sent !== 'object' || sent === null || Array.isArray(sent)) return
    if (reply.peersReset === true) this.peers.clear()
    const entries = Object.entries(sent as Record<string, unknown>).filter((e): e is [string, ProviderInfo] => isProviderInfo(e[1]))
    for (const [key, info] of entries) this.peers.set(key, info)
    // a server past the protocol's bound: keep this reply's entries only
    if (this.peers.size > MAX_SESSION_PEERS) {
      this.peers.clear()
      for (const [key, info] of entries.slice(0, MAX_SESSION_PEERS)) this.peers.set(key, info)
    }
    const table: Record<string, ProviderInfo> = {}
    for (const hit of Array.isArray(reply.hits) ? reply.hits : []) {
      const rows = Array.isArray(hit) ? hit[4] : undefined
      if (!Array.isArray(rows)) continue
      for (const row of rows) {
        const key = String(row)
        const info = this.peers.get(key)
        if (info !== undefined) table[key] = info
      }
    }
    reply.peers = table
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
