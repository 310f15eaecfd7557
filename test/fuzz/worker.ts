/**
 * One target's fuzz run (or one crasher's replay) in a worker thread, so the
 * driver in run.ts sees from outside a target that calls process.exit (the
 * worker ends without a report) or hangs, even in a synchronous loop (no
 * progress; the driver terminates it). The input in flight is kept in shared
 * memory so the driver can save it as a crasher either way.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { fuzzTarget, INFLIGHT_HEADER, replayOne } from './harness.ts'
import { loadTarget } from './targets.ts'

export type WorkerJob =
  | { mode: 'fuzz', target: string, iterations: number, seed: number }
  | { mode: 'replay', target: string, input: string, seed: number }
export type WorkerData = WorkerJob & { inflight: SharedArrayBuffer }

const data = workerData as WorkerData
const port = parentPort
if (port === null) throw new Error('worker.ts runs in a worker thread (see run.ts)')

const header = new Int32Array(data.inflight, 0, 2)
const body = new Uint8Array(data.inflight, INFLIGHT_HEADER)
function keep (input: Uint8Array, seed: number): void {
  header[0] = input.byteLength > body.byteLength ? -1 : input.byteLength
  header[1] = seed | 0
  if (input.byteLength <= body.byteLength) body.set(input)
}

const loaded = await loadTarget(data.target)
if (loaded === undefined) throw new Error(`no fuzz target ${data.target}`)
if (data.mode === 'fuzz') {
  let lastBeat = 0
  const report = await fuzzTarget(loaded.target, data.iterations, data.seed, {
    onInput: (input, seed, done) => {
      keep(input, seed)
      // a heartbeat; the driver takes silence for a hang
      const now = Date.now()
      if (now - lastBeat >= 500) { lastBeat = now; port.postMessage({ type: 'progress', done }) }
    }
  })
  await loaded.close()
  port.postMessage({ type: 'result', result: report })
} else {
  const input = Uint8Array.from(Buffer.from(data.input, 'hex'))
  keep(input, data.seed)
  const result = await replayOne(loaded.target, input, data.seed)
  await loaded.close()
  port.postMessage({ type: 'result', result })
}
