import { count } from './components.ts'
import { ByeCode, MessageType } from '../protocol/messages.ts'
import type { OverlayContext } from './components.ts'
import type { Neighbour } from '../neighbours.ts'

export interface ReadLoopInit<M extends { type: number }> {
  ctx: OverlayContext
  neighbour: Neighbour
  /** hand the event loop back after this much handling (ms) */
  readTurnMs: number
  /** the generation's codec; throws on a malformed frame */
  decode: (bytes: Uint8Array) => M
  /**
   * The generation's handler of one message. Returns why the link ends (a BYE
   * received, a protocol error it closed the link for), or undefined to read on.
   * A throw also ends the link, with the error's message as the reason.
   */
  handle: (msg: M, bytes: Uint8Array) => string | undefined
}

/**
 * Reads one link until it ends and resolves with why it ended (never rejects).
 * Each frame is decoded and counted by type; a frame that does not decode is
 * counted INVALID (droppedInvalid) and ends the link with BYE PROTOCOL_ERROR.
 * Once we are closing the link, only the remote's BYE is still handled.
 *
 * A link's buffered batch must not hold the event loop: after readTurnMs of
 * handling (time waiting in read() does not count) the loop yields a turn, so
 * every other link and libp2p's own traffic get theirs.
 */
export async function readLink<M extends { type: number }> (init: ReadLoopInit<M>): Promise<string> {
  const { ctx, neighbour } = init
  let busyMs = 0
  let handledAt: number | undefined
  try {
    while (true) {
      if (handledAt !== undefined) busyMs += performance.now() - handledAt
      if (busyMs >= init.readTurnMs) {
        await new Promise(resolve => setImmediate(resolve))
        busyMs = 0
      }
      const bytes = await neighbour.framed.read()
      handledAt = performance.now()
      if (bytes === undefined) return 'closed by the remote'
      neighbour.lastReceived = performance.now()
      let msg: M
      try {
        msg = init.decode(bytes)
      } catch (err: any) {
        ctx.stats.message(ctx.name, 'in', 'INVALID', bytes.byteLength)
        count(ctx, 'droppedInvalid')
        neighbour.close(ByeCode.PROTOCOL_ERROR, err.message, true)
        return `protocol error: ${err.message}`
      }
      ctx.stats.message(ctx.name, 'in', ctx.messageName(msg.type), bytes.byteLength)
      if (neighbour.isClosing && msg.type !== MessageType.BYE) continue
      const ended = init.handle(msg, bytes)
      if (ended !== undefined) return ended
    }
  } catch (err: any) {
    return err.message
  }
}
