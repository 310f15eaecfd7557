import { LinkClosedError } from './errors.ts'
import { CLOSE_GRACE_MS } from './protocol/constants.ts'
import { ByeCode, MessageType, encodeBye } from './protocol/messages.ts'
import type { FramedStream } from '@sedai/core'
import type { PeerEntry } from './protocol/messages.ts'

/** One message waiting for a neighbour's stream. */
export interface Outgoing {
  /** a MessageType (protocols that extend this one add their own types) */
  type: number
  bytes: Uint8Array
  /** for QUERY: the query id (hex), so the send is counted per link per query */
  queryId?: string
  /** for QUERY: the TTL it carries */
  queryTtl?: number
}

export type Admission = 'ok' | 'throttled' | 'drop'

export interface NeighbourInit {
  peerId: string
  framed: FramedStream
  /** true when we opened the stream */
  outbound: boolean
  sendQueueSize: number
  queryRatePerSec: number
  queryBurst: number
  maxThrottledPerWindow: number
  floodWindowMs: number
  /** called after each message is written */
  onSent: (n: Neighbour, msg: Outgoing) => void
  /** called when a message is dropped from (or refused by) a full queue */
  onShed: (n: Neighbour, msg: Outgoing) => void
  now?: () => number
}

/**
 * A neighbour link: one bidirectional stream carrying framed messages both
 * ways. Sends go through a bounded queue drained by one writer; when the
 * queue is full, queries are shed first (Gnutella 0.6 flow control: a QUERY
 * is the cheapest to lose, a QUERY_HIT answers someone's search). Queries
 * received are admitted by a token bucket; a neighbour over the rate is
 * throttled (its excess queries dropped) and, past a bound within a window,
 * dropped.
 */
export class Neighbour {
  readonly peerId: string
  readonly framed: FramedStream
  readonly outbound: boolean
  readonly connectedAt = Date.now()
  lastReceived: number
  lastSent: number
  /** the neighbour's own entry, from its PONG */
  entry?: PeerEntry
  /** settles when the link is confirmed (the remote's first PONG) or ends before that */
  readonly ready: Promise<void>
  private settle!: (err?: Error) => void
  /** nonce of the first PING on the link, never 0 */
  readonly helloNonce = 1 + Math.floor(Math.random() * (2 ** 32 - 1))
  throttled = false
  throttledQueries = 0
  queriesIn = 0
  private readonly queue: Outgoing[] = []
  private readonly init: NeighbourInit
  private readonly now: () => number
  private tokens: number
  private refilledAt: number
  private windowStart: number
  private windowDrops = 0
  private wake: (() => void) | undefined
  private closing = false
  private closed = false
  private writer?: Promise<void>

  constructor (init: NeighbourInit) {
    this.init = init
    this.peerId = init.peerId
    this.framed = init.framed
    this.outbound = init.outbound
    this.now = init.now ?? (() => performance.now())
    this.tokens = init.queryBurst
    this.refilledAt = this.now()
    this.windowStart = this.refilledAt
    this.lastReceived = this.refilledAt
    this.lastSent = this.refilledAt
    this.ready = new Promise<void>((resolve, reject) => {
      this.settle = (err) => { if (err === undefined) resolve(); else reject(err) }
    })
    this.ready.catch(() => {}) // nobody may be waiting
  }

  /** The remote answered: the link is up. */
  confirm (): void {
    this.settle()
  }

  /** The link ended before (or after) it was confirmed; a no-op once confirmed. */
  fail (err: Error): void {
    this.settle(err)
  }

  get queued (): number {
    return this.queue.length
  }

  get isClosing (): boolean {
    return this.closing || this.closed
  }

  /** Starts the writer; resolves when the link's writing side has ended. */
  run (): Promise<void> {
    this.writer ??= this.write()
    return this.writer
  }

  /**
   * Queues a message. With the queue full, a QUERY is refused, and anything
   * else takes the place of the oldest queued QUERY (or is refused when
   * there is none). Returns false when `msg` itself was not queued.
   */
  send (msg: Outgoing): boolean {
    if (this.closing || this.closed) return false
    if (this.queue.length >= this.init.sendQueueSize) {
      if (msg.type === MessageType.QUERY) {
        this.init.onShed(this, msg)
        return false
      }
      const victim = this.queue.findIndex(m => m.type === MessageType.QUERY)
      if (victim < 0) {
        this.init.onShed(this, msg)
        return false
      }
      this.init.onShed(this, this.queue.splice(victim, 1)[0])
    }
    this.queue.push(msg)
    this.notify()
    return true
  }

  /**
   * Drops queued, not yet written copies of query `id` that carry no more
   * than `heldTtl`: the neighbour just sent us that query, so it holds it
   * with that TTL, and such a copy would only cross the link the other way.
   * Returns true when a copy was dropped.
   */
  cancelQuery (id: string, heldTtl: number): boolean {
    let dropped = false
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const m = this.queue[i]
      if (m.type !== MessageType.QUERY || m.queryId !== id || (m.queryTtl ?? 0) > heldTtl) continue
      this.queue.splice(i, 1)
      dropped = true
    }
    return dropped
  }

  /** Token bucket over queries received; see the class comment. */
  admitQuery (): Admission {
    const now = this.now()
    this.queriesIn++
    this.tokens = Math.min(this.init.queryBurst, this.tokens + (now - this.refilledAt) * this.init.queryRatePerSec / 1000)
    this.refilledAt = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 'ok'
    }
    if (now - this.windowStart > this.init.floodWindowMs) {
      this.windowStart = now
      this.windowDrops = 0
    }
    this.throttled = true
    this.throttledQueries++
    this.windowDrops++
    return this.windowDrops > this.init.maxThrottledPerWindow ? 'drop' : 'throttled'
  }

  /** Sends BYE after what is queued (or at once with `urgent`), then closes the stream. */
  close (code: ByeCode = ByeCode.SHUTDOWN, reason = '', urgent = false): void {
    if (this.closing || this.closed) return
    const bye: Outgoing = { type: MessageType.BYE, bytes: encodeBye(code, reason) }
    if (urgent) this.queue.length = 0
    this.queue.push(bye)
    this.closing = true
    this.notify()
    this.run().catch(() => {})
  }

  /** Closes our side after what is queued, without a BYE (the remote said BYE first). */
  end (): void {
    if (this.closing || this.closed) return
    this.closing = true
    this.notify()
    this.run().catch(() => {})
  }

  /** Ends the link at once, without a word. */
  abort (err: Error): void {
    this.closed = true
    this.queue.length = 0
    this.framed.abort(err)
    this.notify()
  }

  private notify (): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  private async write (): Promise<void> {
    try {
      while (!this.closed) {
        const msg = this.queue.shift()
        if (msg === undefined) {
          if (this.closing) break
          await new Promise<void>(resolve => { this.wake = resolve })
          continue
        }
        await this.framed.write(msg.bytes)
        this.lastSent = this.now()
        this.init.onSent(this, msg)
        if (msg.type === MessageType.BYE) break
      }
    } finally {
      if (!this.closed) {
        this.closed = true
        if (this.closing) {
          await this.framed.close()
          // a remote that never closes its side does not keep the stream: CLOSE_GRACE_MS, then abort
          setTimeout(() => { this.framed.abort(new LinkClosedError('link closed')) }, CLOSE_GRACE_MS).unref()
        }
      }
    }
  }
}

/**
 * Peers heard of (from PONGs and links), most recently heard last; bounded,
 * the oldest forgotten first. A peer that failed to link is skipped until
 * `retryMs` has passed.
 */
export class HostCache {
  private readonly entries = new Map<string, { addrs: string[], failedAt?: number }>()
  private readonly max: number

  constructor (max: number) {
    this.max = max
  }

  get size (): number {
    return this.entries.size
  }

  add (e: PeerEntry): void {
    if (e.addrs.length === 0) return
    const old = this.entries.get(e.peerId)
    this.entries.delete(e.peerId)
    this.entries.set(e.peerId, { addrs: e.addrs, failedAt: old?.failedAt })
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string)
  }

  failed (peerId: string, at: number): void {
    const e = this.entries.get(peerId)
    if (e !== undefined) e.failedAt = at
  }

  delete (peerId: string): void {
    this.entries.delete(peerId)
  }

  /** Up to `n` entries, newest first, passing `ok`, none failed within `retryMs` of `now`. */
  candidates (n: number, now: number, retryMs: number, ok: (peerId: string) => boolean): PeerEntry[] {
    const out: PeerEntry[] = []
    for (const [peerId, e] of [...this.entries].reverse()) {
      if (out.length >= n) break
      if (e.failedAt !== undefined && now - e.failedAt < retryMs) continue
      if (!ok(peerId)) continue
      out.push({ peerId, addrs: e.addrs })
    }
    return out
  }

  /** Up to `n` entries picked at random (for PONGs). */
  sample (n: number, exclude: (peerId: string) => boolean): PeerEntry[] {
    const all = [...this.entries].filter(([id]) => !exclude(id))
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[all[i], all[j]] = [all[j], all[i]]
    }
    return all.slice(0, n).map(([peerId, e]) => ({ peerId, addrs: e.addrs }))
  }
}
