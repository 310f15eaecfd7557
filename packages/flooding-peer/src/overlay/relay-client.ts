import { randomBytes } from 'node:crypto'
import { NotFoundError, RemoteError, TimeoutError } from '@sedai/core'
import { MessageType, RelayStatus, encodeRelayRequest, idHex } from '../protocol/messages.ts'
import type { Neighbour } from '../neighbours.ts'
import type { RelayReply } from '../protocol/messages.ts'

/** One range of a chunk (or of the manifest, index MANIFEST_INDEX) of `cid`, asked of peer `target`. */
export interface RangeRequest { target: string, cid: string, index: number, offset: number, length: number }

/**
 * Our own in-band requests: each RELAY_REQUEST goes out with a fresh id and
 * waits, under a deadline, for the RELAY_REPLY with that id. Requests of
 * others that we relay are the generation's business (flooding routes them
 * hop by hop, supernodes through their caching PathRelay).
 */
export class RelayClient {
  private readonly pending = new Map<string, (reply: RelayReply) => void>()
  private readonly init: { ttl: number, timeoutMs: number }

  /** `ttl`: hops a request may take; `timeoutMs`: a request unanswered for this long fails. */
  constructor (init: { ttl: number, timeoutMs: number }) {
    this.init = init
  }

  /**
   * Sends `r` on `via` (the next hop toward the target) and resolves with the
   * reply's bytes; NotFoundError / RemoteError for a NOT_FOUND / ERROR reply,
   * TimeoutError when none comes in time (or the link refused the message).
   */
  async request (via: Neighbour, r: RangeRequest, signal?: AbortSignal): Promise<{ total: number, data: Uint8Array }> {
    const idBytes = randomBytes(16)
    const id = idHex(idBytes)
    const deadline = AbortSignal.any([AbortSignal.timeout(this.init.timeoutMs), ...(signal !== undefined ? [signal] : [])])
    const reply = await new Promise<RelayReply>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.delete(id)
        reject(new TimeoutError(`relayed request toward ${r.target} unanswered`))
      }
      if (deadline.aborted) { onAbort(); return }
      deadline.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, (reply) => {
        deadline.removeEventListener('abort', onAbort)
        this.pending.delete(id)
        resolve(reply)
      })
      const bytes = encodeRelayRequest({ id: idBytes, ttl: this.init.ttl, ...r })
      if (!via.send({ type: MessageType.RELAY_REQUEST, bytes })) onAbort()
    })
    if (reply.status === RelayStatus.NOT_FOUND) throw new NotFoundError(`${r.target}: ${reply.error ?? 'not found'}`)
    if (reply.status !== RelayStatus.OK) throw new RemoteError(`${r.target}: ${reply.error ?? 'error'}`)
    return { total: reply.total, data: reply.data ?? new Uint8Array(0) }
  }

  /** Settles our request with `reply`'s id; false when there is none (a late or unknown reply). */
  onReply (reply: RelayReply): boolean {
    const settle = this.pending.get(idHex(reply.id))
    if (settle === undefined) return false
    settle(reply)
    return true
  }
}
