/**
 * The fuzz driver: for each target, N random inputs and N mutations of its
 * seeds. Fails on a crash (an error without an ERR_ code), on a decode that
 * blocks the event loop for more than 50 ms, or on heap growth that a GC does
 * not give back. A crasher is written to test/fuzz/crashers/<target>-<n>.hex
 * and replayed by test/fuzz.test.ts from then on.
 *
 *   node --expose-gc test/fuzz/run.ts [iterations per kind] [seed]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Rng, mutate } from './mutator.ts'
import { apiTarget } from './api-target.ts'
import { TARGETS } from './targets.ts'
import type { Target } from './targets.ts'

export const MAX_BLOCK_MS = 50
const CRASHERS = fileURLToPath(new URL('./crashers/', import.meta.url))

export interface FuzzReport { target: string, inputs: number, rejected: number, slowestMs: number, heapGrowthMiB: number, crashes: Array<{ input: string, error: string }> }

function isExpected (err: any): boolean {
  return typeof err?.code === 'string' && err.code.startsWith('ERR_') && !(err instanceof TypeError) && !(err instanceof RangeError)
}

/** Targets that need setting up (a server) come with a close(). */
export async function allTargets (): Promise<{ targets: Target[], close: () => Promise<void> }> {
  const api = await apiTarget()
  return { targets: [...TARGETS, api.target], close: api.close }
}

/** Decodes once; returns the CPU milliseconds it took (user + system, not wall time). */
async function timed (target: Target, input: Uint8Array, unit: () => number, report?: FuzzReport): Promise<number> {
  const started = process.cpuUsage()
  try {
    await target.decode(input, unit)
  } catch (err: any) {
    if (report !== undefined) {
      if (isExpected(err)) report.rejected++
      else report.crashes.push({ input: Buffer.from(input).toString('hex'), error: `${err?.name}: ${err?.message}` })
    }
  }
  const used = process.cpuUsage(started)
  return (used.user + used.system) / 1000
}

export async function fuzzTarget (target: Target, iterations: number, seed: number): Promise<FuzzReport> {
  const rng = new Rng(seed)
  const unit = (): number => rng.next() / 0x100000000
  const report: FuzzReport = { target: target.name, inputs: 0, rejected: 0, slowestMs: 0, heapGrowthMiB: 0, crashes: [] }
  const gc = (globalThis as any).gc as (() => void) | undefined
  gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  for (let i = 0; i < 2 * iterations; i++) {
    const input = i < iterations
      ? rng.bytes(rng.int(i % 10 === 0 ? 4096 : 64))
      : mutate(rng, target.seeds[rng.int(target.seeds.length)], target.seeds)
    let ms = await timed(target, input, unit, report)
    // a shared machine can deschedule us or run a GC mid-call: only an input
    // that is slow every time is a block
    for (let retry = 0; ms > MAX_BLOCK_MS && retry < 2; retry++) ms = Math.min(ms, await timed(target, input, unit))
    if (ms > report.slowestMs) report.slowestMs = ms
    if (ms > MAX_BLOCK_MS) report.crashes.push({ input: Buffer.from(input).toString('hex'), error: `blocked the event loop for ${ms.toFixed(1)} ms` })
    report.inputs++
  }
  gc?.()
  report.heapGrowthMiB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024
  return report
}

export function saveCrashers (report: FuzzReport): void {
  if (report.crashes.length === 0) return
  mkdirSync(CRASHERS, { recursive: true })
  report.crashes.slice(0, 20).forEach((c, n) => {
    writeFileSync(`${CRASHERS}${report.target}-${Date.now()}-${n}.hex`, `${c.input}\n`)
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const iterations = Number(process.argv[2] ?? 100_000)
  const seed = Number(process.argv[3] ?? Date.now() % 0xffffffff)
  if ((globalThis as any).gc === undefined) console.error('note: run with --expose-gc for the heap check')
  let failed = false
  console.log(`fuzz: ${iterations} random + ${iterations} mutated inputs per target, seed ${seed}`)
  console.log('target'.padEnd(28), 'inputs'.padStart(8), 'rejected'.padStart(9), 'slowest ms'.padStart(11), 'heap +MiB'.padStart(10), 'crashes'.padStart(8))
  const { targets, close } = await allTargets()
  for (const target of targets) {
    // HTTP round trips are slower than decoding in process: a tenth as many
    const r = await fuzzTarget(target, target.name.startsWith('api.') ? Math.ceil(iterations / 10) : iterations, seed)
    saveCrashers(r)
    if (r.crashes.length > 0 || r.heapGrowthMiB > 32) failed = true
    console.log(r.target.padEnd(28), String(r.inputs).padStart(8), String(r.rejected).padStart(9), r.slowestMs.toFixed(2).padStart(11), r.heapGrowthMiB.toFixed(1).padStart(10), String(r.crashes.length).padStart(8))
    for (const c of r.crashes.slice(0, 3)) console.log(`  ${c.error} <- ${c.input.slice(0, 80)}`)
  }
  await close()
  process.exitCode = failed ? 1 : 0
}
