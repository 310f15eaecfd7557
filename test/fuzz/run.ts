/**
 * The fuzz driver: for each target, N random inputs and N mutations of its
 * seeds, each run in its own worker thread (worker.ts). Wire messages are
 * also sent through the real framing cut at random points (harness.ts).
 * A run fails on a crash (an error without an ERR_ code, or a framed decode
 * that differs from the direct one), an uncaught exception or unhandled
 * rejection, an input that holds the event loop more than 50 ms, a target
 * that exits or stops making progress, or heap growth that a GC does not give
 * back. Each crasher is written to test/fuzz/crashers/<target>-<ms>-<n>.hex
 * (hex input, then the input's seed) and replayed by test/fuzz.test.ts.
 *
 *   node --expose-gc test/fuzz/run.ts [iterations per kind] [seed]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { failures, INFLIGHT_BYTES, INFLIGHT_HEADER, MAX_BLOCK_MS, seedOf } from './harness.ts'
import type { FuzzCrash, FuzzReport } from './harness.ts'
import { TARGET_NAMES } from './targets.ts'
import type { WorkerJob } from './worker.ts'

export { MAX_BLOCK_MS, TARGET_NAMES }
export const CRASHERS = fileURLToPath(new URL('./crashers/', import.meta.url))
/** A worker silent (no heartbeat, no result) for this long has hung. */
export const STALL_MS = 30_000
const WORKER = new URL('./worker.ts', import.meta.url)

interface Isolated<T> { result?: T, failure?: string, inflight?: { input: string, seed: number } }

/** Runs worker.ts with `data`; a worker that exits without a result, or goes silent for `stallMs`, is a failure. */
async function isolated<T> (data: WorkerJob, stallMs: number): Promise<Isolated<T>> {
  const inflight = new SharedArrayBuffer(INFLIGHT_HEADER + INFLIGHT_BYTES)
  const header = new Int32Array(inflight, 0, 2)
  header[0] = -2 // nothing in flight yet
  const worker = new Worker(WORKER, { workerData: { ...data, inflight } })
  return await new Promise(resolve => {
    let result: T | undefined
    let failure: string | undefined
    let timer: NodeJS.Timeout | undefined
    const arm = (): void => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        failure ??= `no progress for ${stallMs} ms (hung)`
        void worker.terminate()
      }, stallMs)
    }
    arm()
    worker.on('message', (m: { type: string, result?: T }) => {
      arm()
      if (m.type !== 'result') return
      result = m.result
      void worker.terminate() // a handle the target left open must not keep the run waiting
    })
    worker.on('error', err => { failure ??= `worker failed: ${err?.name}: ${err?.message}` })
    worker.on('exit', code => {
      clearTimeout(timer)
      if (result === undefined) failure ??= `exited with code ${code} before reporting`
      let kept
      if (failure !== undefined && header[0] >= 0) {
        kept = { input: Buffer.from(new Uint8Array(inflight, INFLIGHT_HEADER, header[0])).toString('hex'), seed: header[1] >>> 0 }
      }
      resolve({ result, failure, inflight: kept })
    })
  })
}

function emptyReport (target: string): FuzzReport {
  return { target, random: 0, mutated: 0, framed: 0, rejected: 0, slowestMs: 0, loopDelayMs: 0, uncaught: 0, heapBeforeMiB: 0, heapGrowthMiB: 0, gc: false, crashes: [] }
}

/** One target's run in a worker; a worker that exits or hangs comes back as a report with that crash. */
export async function fuzzIsolated (target: string, iterations: number, seed: number, stallMs = STALL_MS): Promise<FuzzReport> {
  const r = await isolated<FuzzReport>({ mode: 'fuzz', target, iterations, seed }, stallMs)
  if (r.failure === undefined && r.result !== undefined) return r.result
  const report = r.result ?? emptyReport(target)
  report.crashes.push({ input: r.inflight?.input ?? '', seed: r.inflight?.seed ?? 0, error: r.failure ?? 'no report' })
  return report
}

export function formatCrasher (c: FuzzCrash): string {
  return `${c.input}\nseed ${c.seed}\n# ${c.error.replace(/\s+/g, ' ').slice(0, 300)}\n`
}

/** A crasher file: the input in hex, then `seed <n>` (older files have none: the seed comes from the bytes), then # comments. */
export function parseCrasher (text: string): { input: Uint8Array, seed: number } {
  const lines = text.split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
  const hex = lines.find(l => /^[0-9a-f]*$/i.test(l) && !l.startsWith('seed')) ?? ''
  const input = Uint8Array.from(Buffer.from(hex, 'hex'))
  const seedLine = lines.find(l => l.startsWith('seed '))
  return { input, seed: seedLine === undefined ? seedOf(input) : Number(seedLine.slice(5)) >>> 0 }
}

/** The target a crasher file names (<target>-...hex), the longest match; undefined when none. */
export function crasherTarget (file: string): string | undefined {
  return TARGET_NAMES.filter(n => basename(file).startsWith(`${n}-`)).sort((a, b) => b.length - a.length)[0]
}

export function saveCrashers (report: FuzzReport, dir = CRASHERS): string[] {
  if (report.crashes.length === 0) return []
  mkdirSync(dir, { recursive: true })
  const now = Date.now()
  return report.crashes.slice(0, 20).map((c, n) => {
    const file = join(dir, `${report.target}-${now}-${n}.hex`)
    writeFileSync(file, formatCrasher(c))
    return file
  })
}

/** Replays a crasher file in a worker: what became of it, or the crash it still causes. */
export async function replayCrasher (file: string, stallMs = STALL_MS): Promise<{ outcome: string } | { crash: string }> {
  const target = crasherTarget(file)
  if (target === undefined) throw new Error(`crasher ${basename(file)} names no target (known: ${TARGET_NAMES.join(', ')})`)
  const { input, seed } = parseCrasher(readFileSync(file, 'utf8'))
  const r = await isolated<{ outcome: string } | { crash: string }>({ mode: 'replay', target, input: Buffer.from(input).toString('hex'), seed }, stallMs)
  return r.failure !== undefined || r.result === undefined ? { crash: r.failure ?? 'no result' } : r.result
}

const COLUMNS: Array<[string, number, (r: FuzzReport) => string]> = [
  ['target', -24, r => r.target],
  ['random', 8, r => String(r.random)],
  ['mutated', 8, r => String(r.mutated)],
  ['framed', 8, r => String(r.framed)],
  ['rejected', 9, r => String(r.rejected)],
  ['crashes', 8, r => String(r.crashes.length)],
  ['uncaught', 9, r => String(r.uncaught)],
  ['block ms', 9, r => r.slowestMs.toFixed(1)],
  ['loop ms', 8, r => r.loopDelayMs.toFixed(1)],
  ['heap MiB', 9, r => r.heapBeforeMiB.toFixed(1)],
  ['+MiB', 6, r => r.gc ? r.heapGrowthMiB.toFixed(1) : `${r.heapGrowthMiB.toFixed(1)}?`]
]
export function tableRow (cells: string[]): string {
  return cells.map((c, i) => COLUMNS[i][1] < 0 ? c.padEnd(-COLUMNS[i][1]) : c.padStart(COLUMNS[i][1])).join(' ')
}
export const tableHeader = (): string => tableRow(COLUMNS.map(c => c[0]))
export const tableLine = (r: FuzzReport): string => tableRow(COLUMNS.map(c => c[2](r)))

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const iterations = Number(process.argv[2] ?? 100_000)
  const seed = Number(process.argv[3] ?? Date.now() % 0xffffffff)
  const started = Date.now()
  const gc = (globalThis as any).gc !== undefined
  if (!gc) console.error('note: run with --expose-gc for the heap check (figures marked ? are without a GC)')
  // a run that ends before every target reported (the driver itself died or
  // was made to exit) must not look like a pass
  const pending = new Set(TARGET_NAMES)
  process.on('exit', () => {
    if (pending.size === 0) return
    console.error(`fuzz: no report from ${[...pending].join(', ')}`)
    process.exitCode = 1
  })
  let failed = false
  console.log(`fuzz: ${iterations} random + ${iterations} mutated inputs per target, seed ${seed}; block limit ${MAX_BLOCK_MS} ms`)
  console.log(tableHeader())
  for (const name of TARGET_NAMES) {
    const r = await fuzzIsolated(name, iterations, seed)
    pending.delete(name)
    const why = failures(r)
    if (r.random < iterations || r.mutated < iterations) why.push(`ran ${r.random} + ${r.mutated} of ${iterations} + ${iterations} inputs`)
    const saved = saveCrashers(r)
    if (why.length > 0) failed = true
    console.log(tableLine(r))
    for (const w of why) console.log(`  ${w}`)
    for (const f of saved) console.log(`  saved ${f}`)
  }
  console.log(`fuzz: ${TARGET_NAMES.length} targets in ${((Date.now() - started) / 1000).toFixed(1)} s, ${failed ? 'FAILED' : 'passed'}`)
  process.exitCode = failed ? 1 : 0
}
