/**
 * Work deferred to the end of the current turn of the event loop, in two
 * rounds: `atTurnEnd` callbacks first (protocol writers flushing what they
 * queued during the turn), then `afterTurnWrites` callbacks (the transport
 * sending what those writes produced: tcp-writes.ts). One setImmediate runs
 * both, so a reply queued in a turn leaves in the same socket write as the
 * muxer's window update that the request caused, instead of one turn later.
 */
const writers: Array<() => void> = []
const flushers: Array<() => void> = []
let scheduled = false

function schedule (): void {
  if (scheduled) return
  scheduled = true
  setImmediate(run)
}

function run (): void {
  scheduled = false
  let failure: { err: unknown } | undefined
  const call = (fn: () => void): void => {
    try {
      fn()
    } catch (err) {
      failure ??= { err }
    }
  }
  // a writer may queue more writers (or flushers): loop until both are empty
  while (writers.length > 0 || flushers.length > 0) {
    while (writers.length > 0) call(writers.shift() as () => void)
    for (const fn of flushers.splice(0)) call(fn)
  }
  // callbacks must not throw; one that does is an uncaught exception, as in a
  // setImmediate callback, but only once the others have run (no socket left corked)
  if (failure !== undefined) throw failure.err
}

/** Runs `fn` once this turn of the event loop is over, before the transport flushes. */
export function atTurnEnd (fn: () => void): void {
  writers.push(fn)
  schedule()
}

/** Runs `fn` after this turn's `atTurnEnd` callbacks: for sending what they wrote. */
export function afterTurnWrites (fn: () => void): void {
  flushers.push(fn)
  schedule()
}
