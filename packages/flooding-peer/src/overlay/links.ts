import { FramedStream, TimeoutError } from '@sedai/core'
import { LinkClosedError } from '../errors.ts'
import { Neighbour } from '../neighbours.ts'
import { CLOSE_GRACE_MS, MAX_FRAME_BYTES, MAX_STREAMS_PER_CONNECTION } from '../protocol/constants.ts'
import { ByeCode, MessageType } from '../protocol/messages.ts'
import { count } from './components.ts'
import type { OverlayComponents, OverlayContext } from './components.ts'
import type { Outgoing } from '../neighbours.ts'
import type { Connection, Stream } from '@libp2p/interface'

/** At stop, links get this long (ms) to send their BYE and drain before they are aborted. */
export const STOP_GRACE_MS = 1_000

/**
 * Serves `protocol`'s link streams with `accept`: at most
 * MAX_STREAMS_PER_CONNECTION per connection each way (one link, plus room for
 * both sides dialling at once, which the tie-break settles).
 */
export async function handleLinks (components: Pick<OverlayComponents, 'handle'>, protocol: string, accept: (stream: Stream, connection: Connection) => void): Promise<void> {
  await components.handle(protocol, (stream, connection) => { accept(stream, connection) }, {
    maxInboundStreams: MAX_STREAMS_PER_CONNECTION,
    maxOutboundStreams: MAX_STREAMS_PER_CONNECTION
  })
}

/** Runs `fn` now and every `ms` (maintenance), without holding the process open; clearInterval the timer at stop. */
export function tickEvery (ms: number, fn: () => void): NodeJS.Timeout {
  const timer = setInterval(fn, ms)
  timer.unref()
  fn()
  return timer
}

/** The config a link reads (both generations' configs have these). */
export interface LinkConfig {
  idleTimeoutMs: number
  sendQueueSize: number
  queryRatePerSec: number
  queryBurst: number
  maxThrottledPerWindow: number
  floodWindowMs: number
}

/**
 * A Neighbour on a fresh link stream: framed, with the send queue and query
 * token bucket of `config`. Every message written is counted by type
 * (`onSent` adds what else the service counts); shed ones are counted as
 * shedQueries (a QUERY) or droppedQueueFull.
 */
export function openNeighbour (ctx: OverlayContext, config: LinkConfig, peer: string, stream: Stream, outbound: boolean,
  onSent: (neighbour: Neighbour, msg: Outgoing) => void): Neighbour {
  return new Neighbour({
    peerId: peer,
    framed: new FramedStream(stream, { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: config.idleTimeoutMs }),
    outbound,
    sendQueueSize: config.sendQueueSize,
    queryRatePerSec: config.queryRatePerSec,
    queryBurst: config.queryBurst,
    maxThrottledPerWindow: config.maxThrottledPerWindow,
    floodWindowMs: config.floodWindowMs,
    onSent: (neighbour, msg) => {
      ctx.stats.message(ctx.name, 'out', ctx.messageName(msg.type), msg.bytes.byteLength)
      onSent(neighbour, msg)
    },
    onShed: (neighbour, msg) => {
      count(ctx, msg.type === MessageType.QUERY ? 'shedQueries' : 'droppedQueueFull')
      ctx.log.debug({ peer: neighbour.peerId, type: ctx.messageName(msg.type) }, 'send queue full: message shed')
    }
  })
}

/**
 * The duplicate-link tie-break. Both peers may dial each other at once; of two
 * links between the same peers, the one dialled by the smaller peer id
 * survives, and of two dialled by the same side, the one already there. It
 * looks at peer ids and directions only, never at how far a handshake got:
 * the two ends see the two links at different stages (a WELCOME may be in
 * flight), and must still pick the same link, or each keeps the one the other
 * closes and both are lost.
 */
export function newLinkWins (self: string, peer: string, existingOutbound: boolean, newOutbound: boolean): boolean {
  if (existingOutbound === newOutbound) return false
  const dialerOf = (outbound: boolean): string => outbound ? self : peer
  return dialerOf(newOutbound) < dialerOf(existingOutbound)
}

/**
 * The links of one service by peer id, at most one per peer. `L` is what the
 * generation keeps per link (a Neighbour, or a Neighbour plus its role);
 * `neighbourOf` finds the Neighbour in it.
 */
export class LinkTable<L> {
  private readonly links = new Map<string, L>()
  private readonly self: string
  private readonly neighbourOf: (link: L) => Neighbour

  constructor (self: string, neighbourOf: (link: L) => Neighbour) {
    this.self = self
    this.neighbourOf = neighbourOf
  }

  get size (): number { return this.links.size }
  get (peer: string): L | undefined { return this.links.get(peer) }
  has (peer: string): boolean { return this.links.has(peer) }
  keys (): IterableIterator<string> { return this.links.keys() }
  values (): IterableIterator<L> { return this.links.values() }

  /** The links that pass `ok`. */
  filter (ok: (link: L) => boolean): L[] {
    return [...this.links.values()].filter(ok)
  }

  /**
   * Registers `link` to `peer` unless a link to it is already up and wins the
   * tie-break (newLinkWins). The loser is closed with BYE DUPLICATE; a losing
   * new link also fails (whoever waits for it to come up learns why) and is
   * aborted if the remote has not closed it within CLOSE_GRACE_MS.
   * Returns false when `link` lost.
   */
  attach (peer: string, link: L): boolean {
    const neighbour = this.neighbourOf(link)
    const existing = this.links.get(peer)
    if (existing !== undefined) {
      const old = this.neighbourOf(existing)
      if (!newLinkWins(this.self, peer, old.outbound, neighbour.outbound)) {
        neighbour.fail(new LinkClosedError('already linked to this peer'))
        neighbour.close(ByeCode.DUPLICATE, 'already linked')
        setTimeout(() => { neighbour.abort(new TimeoutError('duplicate link')) }, CLOSE_GRACE_MS).unref()
        return false
      }
      this.links.delete(peer)
      old.close(ByeCode.DUPLICATE, 'already linked')
    }
    this.links.set(peer, link)
    return true
  }

  /** Drops `link` if it is still the one registered for `peer`; false when it was not (replaced, or never attached). */
  remove (peer: string, link: L): boolean {
    if (this.links.get(peer) !== link) return false
    this.links.delete(peer)
    return true
  }

  /**
   * Dead-link detection and keepalive: a link with nothing received for
   * idleTimeoutMs is aborted; one we have sent nothing on for keepaliveMs
   * gets `keepalive` (the generation's PING or STATUS).
   */
  sweep (config: { idleTimeoutMs: number, keepaliveMs: number }, keepalive: (link: L) => void, now = performance.now()): void {
    for (const link of this.links.values()) {
      const neighbour = this.neighbourOf(link)
      if (now - neighbour.lastReceived > config.idleTimeoutMs) {
        neighbour.abort(new TimeoutError(`nothing received for ${config.idleTimeoutMs} ms`))
      } else if (now - neighbour.lastSent > config.keepaliveMs) {
        keepalive(link)
      }
    }
  }

  /** Closes every link with BYE SHUTDOWN, waits up to STOP_GRACE_MS for them to drain, then aborts what is left. */
  async closeAll (why: string): Promise<void> {
    const neighbours = [...this.links.values()].map(this.neighbourOf)
    this.links.clear()
    for (const neighbour of neighbours) neighbour.close(ByeCode.SHUTDOWN, 'shutting down', true)
    await Promise.race([
      Promise.allSettled(neighbours.map(async neighbour => { await neighbour.run() })),
      new Promise(resolve => setTimeout(resolve, STOP_GRACE_MS).unref())
    ])
    for (const neighbour of neighbours) neighbour.abort(new TimeoutError(why))
  }
}

/**
 * Waits for a new link's handshake (`neighbour.ready`) until `deadline`;
 * rejects with TimeoutError(`message`) when the deadline comes first.
 */
export async function untilLinkUp (neighbour: Neighbour, deadline: AbortSignal, message: string): Promise<void> {
  const timeout = new Promise<never>((_resolve, reject) => {
    const onAbort = (): void => { reject(new TimeoutError(message)) }
    if (deadline.aborted) onAbort()
    deadline.addEventListener('abort', onAbort, { once: true })
  })
  timeout.catch(() => {})
  await Promise.race([neighbour.ready, timeout])
}
