/**
 * A loopback lab worker: one Node process that hosts many sedai daemons on
 * 127.0.0.1 (host.ts) and takes the runner's commands over Node's IPC channel.
 * Packing peers into a few processes is what lets a 2-core machine run
 * hundreds of them.
 */
import { handle } from '../host.ts'
import type { Envelope, Reply } from '../messages.ts'

process.on('message', (msg: Envelope) => {
  handle(msg.req).then(
    (result) => {
      process.send?.({ id: msg.id, ok: true, result } satisfies Reply)
      if (msg.req.op === 'shutdown') setImmediate(() => process.exit(0))
    },
    (err: any) => { process.send?.({ id: msg.id, ok: false, error: String(err?.message ?? err), code: err?.code } satisfies Reply) }
  )
})
// the runner gone = nothing left to do
process.on('disconnect', () => { process.exit(0) })
process.send?.({ id: 0, ok: true, result: 'ready' } satisfies Reply)
