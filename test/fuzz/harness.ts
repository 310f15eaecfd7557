/**
 * What one fuzz input goes through, and the guards around a run of many. Runs
 * inside the thread that holds the target (see worker.ts); the driver that
 * watches it from outside is run.ts.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setImmediate as loopTurn } from 'node:timers/promises'
import { inspect, isDeepStrictEqual } from 'node:util'
import { frame, readFrames } from '../../packages/core/src/framing.ts'
import { Rng, mutate } from './mutator.ts'
import type { Target } from './targets.ts'

/** An input that holds the event loop longer than this (wall clock) is a crash. */
export const MAX_BLOCK_MS = 50
/** Heap used after a run and a full GC may exceed the one before by this much (JIT code, caches), no more. */
export const MAX_HEAP_GROWTH_MIB = 8
/** Tries before an input counts as blocking: a loaded machine deschedules a thread for tens of ms at times, a real block happens every time. */
export const BLOCK_ATTEMPTS = 5
/** An asynchronous decode that has not settled after this is a hang. */
export const SETTLE_MS = 10_000

/** The input in flight, shared with the driver: [length (-1: too large to keep), seed], then the bytes. */
export const INFLIGHT_HEADER = 8
export const INFLIGHT_BYTES = 1 << 20

/** A failure the harness found, as opposed to a decoder refusing an input. */
export class Crash extends Error {
  readonly code = 'CRASH'
  override name = 'Crash'
}

export function isExpected (err: any): boolean {
  return !(err instanceof Crash) && typeof err?.code === 'string' && err.code.startsWith('ERR_') && !(err instanceof TypeError) && !(err instanceof RangeError)
}

export function describe (err: any): string {
  return err instanceof Crash ? err.message : `${err?.name}: ${err?.message}`
}

/** The random draws one input's decode may use (API route, chunk cuts). */
export function inputRng (seed: number): () => number {
  const rng = new Rng(seed)
  return () => rng.next() / 0x100000000
}

/** A crasher file's seed when it has none: derived from its bytes (FNV-1a), so a replay is still deterministic. */
export function seedOf (input: Uint8Array): number {
  let h = 0x811c9dc5
  for (const b of input) h = Math.imul(h ^ b, 0x01000193) >>> 0
  return h
}

type Settled = { ok: unknown } | { rejected: string }

async function settle (run: () => unknown): Promise<Settled> {
  try {
    return { ok: await run() }
  } catch (err: any) {
    if (!isExpected(err)) throw err
    return { rejected: `${err.name} ${err.code}` }
  }
}

const show = (s: Settled): string => 'ok' in s ? `accepted ${inspect(s.ok, { depth: 3, breakLength: Infinity, maxArrayLength: 8, maxStringLength: 64 }).slice(0, 200)}` : `rejected ${s.rejected}`

// the largest piece a stream hands over, drawn per input: bytes one at a
// time, small writes, about a TCP segment, whole buffers
const PIECE_LIMITS = [1, 3, 17, 64, 1460, 65536]

/**
 * The input as a stream delivers it: two frames back to back (so a frame can
 * start inside a piece), cut at random points, read by readFrames with the
 * protocol's limit. Each frame must decode exactly as the input did directly.
 */
async function throughFrames (target: Target, maxFrameBytes: number, input: Uint8Array, direct: Settled, rng: () => number): Promise<void> {
  const wire = new Uint8Array([...frame(input).subarray(), ...frame(input).subarray()])
  const limit = PIECE_LIMITS[Math.floor(rng() * PIECE_LIMITS.length)]
  async function * pieces (): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < wire.byteLength;) {
      const n = 1 + Math.floor(rng() * limit)
      yield wire.subarray(at, at + n)
      at += n
    }
  }
  let frames = 0
  try {
    for await (const body of readFrames(pieces(), maxFrameBytes)) {
      frames++
      const framed = await settle(() => target.decode(body, rng))
      if (!isDeepStrictEqual(framed, direct)) throw new Crash(`framed, ${show(framed)}; direct, ${show(direct)}`)
    }
  } catch (err: any) {
    if (err?.code === 'ERR_FRAME_TOO_LARGE' && input.byteLength > maxFrameBytes) return // refused from the header, as it should be
    if (err instanceof Crash) throw err
    throw new Crash(`framing ${input.byteLength} bytes in pieces of <= ${limit}: ${describe(err)}`)
  }
  if (input.byteLength > maxFrameBytes) throw new Crash(`readFrames delivered a frame of ${input.byteLength} bytes over its limit of ${maxFrameBytes}`)
  if (frames !== 2) throw new Crash(`readFrames delivered ${frames} of 2 frames`)
}

/**
 * One input through a target: decoded directly and, for a wire message, from
 * frames cut at random. Resolves with what became of it ("accepted ..." or
 * "rejected <error> <code>"); throws on a crash. Deterministic for a given
 * (input, seed), so a crasher replays.
 */
export async function exercise (target: Target, input: Uint8Array, seed: number): Promise<string> {
  const rng = inputRng(seed)
  const direct = await settle(() => target.decode(input, rng))
  if (target.maxFrameBytes !== undefined) await throughFrames(target, target.maxFrameBytes, input, direct, rng)
  return show(direct)
}

/** exercise(), failing with a Crash when it has not settled after SETTLE_MS. */
export async function exerciseBounded (target: Target, input: Uint8Array, seed: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Crash(`did not settle within ${SETTLE_MS} ms`)) }, SETTLE_MS)
  })
  try {
    return await Promise.race([exercise(target, input, seed), late])
  } finally {
    clearTimeout(timer)
  }
}

export interface FuzzCrash { input: string, seed: number, error: string }
export interface FuzzReport {
  target: string
  random: number
  mutated: number
  /** inputs also sent through frame() + readFrames() */
  framed: number
  rejected: number
  /** the longest an input held the event loop (ms, wall clock, its decode plus one loop turn) */
  slowestMs: number
  /** the longest delay the loop saw over the run (ms, perf_hooks; also counts GC and the machine's noise) */
  loopDelayMs: number
  uncaught: number
  /** heap used plus external memory, after a GC, before the run and its growth after it */
  heapBeforeMiB: number
  heapGrowthMiB: number
  /** false when heap figures are without a GC in between (no --expose-gc) */
  gc: boolean
  crashes: FuzzCrash[]
}

export interface FuzzHooks {
  /** called before each input, so a watcher can save the one in flight */
  onInput?: (input: Uint8Array, seed: number, done: number) => void
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/** This thread's JS heap plus the memory it holds outside it (ArrayBuffers: a leaked Uint8Array lives there). */
function heapNow (): number {
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}

async function fullGc (gc: () => void): Promise<void> {
  gc()
  await loopTurn() // lets closed sockets and finalizers go
  gc()
}

/** `iterations` random inputs, then `iterations` mutations of the target's seeds. */
export async function fuzzTarget (target: Target, iterations: number, seed: number, hooks: FuzzHooks = {}): Promise<FuzzReport> {
  const rng = new Rng(seed)
  const report: FuzzReport = {
    target: target.name, random: 0, mutated: 0, framed: 0, rejected: 0, slowestMs: 0, loopDelayMs: 0, uncaught: 0, heapBeforeMiB: 0, heapGrowthMiB: 0, gc: false, crashes: []
  }
  const gc = (globalThis as any).gc as (() => void) | undefined
  report.gc = gc !== undefined
  let current: { input: Uint8Array, seed: number } = { input: new Uint8Array(0), seed: 0 }
  // an error thrown from a callback, or a promise rejected with nobody
  // listening, is blamed on the input in flight (it may come from an earlier one)
  const onUncaught = (err: unknown, kind: string): void => {
    report.uncaught++
    report.crashes.push({ input: hex(current.input), seed: current.seed, error: `${kind}: ${describe(err)}` })
  }
  const onException = (err: unknown): void => { onUncaught(err, 'uncaught exception') }
  const onRejection = (err: unknown): void => { onUncaught(err, 'unhandled rejection') }
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  const loop = monitorEventLoopDelay({ resolution: 5 })
  try {
    // warm up (lazy initialisation, JIT) before the heap baseline
    for (const s of target.seeds) {
      current = { input: s, seed: 1 }
      hooks.onInput?.(s, 1, -1)
      await exercise(target, s, 1).catch(() => {})
    }
    if (gc !== undefined) await fullGc(gc)
    const heapBefore = heapNow()
    report.heapBeforeMiB = heapBefore / 1024 / 1024
    loop.enable()
    for (let i = 0; i < 2 * iterations; i++) {
      const random = i < iterations
      const input = random
        ? rng.bytes(rng.int(i % 10 === 0 ? 4096 : 64))
        : mutate(rng, target.seeds[rng.int(target.seeds.length)], target.seeds)
      const inputSeed = rng.next()
      current = { input, seed: inputSeed }
      hooks.onInput?.(input, inputSeed, i)
      let ms = Number.POSITIVE_INFINITY
      // a shared machine can deschedule us or run a GC mid-call: only an input
      // that is slow every time is a block
      for (let attempt = 0; attempt < BLOCK_ATTEMPTS && ms > MAX_BLOCK_MS; attempt++) {
        const started = performance.now()
        let crashed = false
        try {
          const outcome = await exerciseBounded(target, input, inputSeed)
          if (attempt === 0 && outcome.startsWith('rejected')) report.rejected++
        } catch (err) {
          crashed = true
          if (attempt === 0) report.crashes.push({ input: hex(input), seed: inputSeed, error: describe(err) })
        }
        // one turn of the loop, so work the input scheduled for later counts too
        await loopTurn()
        ms = Math.min(ms, performance.now() - started)
        if (crashed) break
      }
      if (ms > report.slowestMs) report.slowestMs = ms
      if (ms > MAX_BLOCK_MS) report.crashes.push({ input: hex(input), seed: inputSeed, error: `held the event loop for ${ms.toFixed(1)} ms` })
      if (random) report.random++
      else report.mutated++
      if (target.maxFrameBytes !== undefined) report.framed++
    }
    loop.disable()
    report.loopDelayMs = loop.count > 0 ? loop.max / 1e6 : 0
    // settle what the last inputs left behind before measuring
    await loopTurn()
    if (gc !== undefined) await fullGc(gc)
    report.heapGrowthMiB = (heapNow() - heapBefore) / 1024 / 1024
  } finally {
    loop.disable()
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
  return report
}

/**
 * A saved crasher, run as the fuzz run ran it (same seed, so the same route
 * and cuts), with the same guards: a crash, an uncaught error, or an event
 * loop held past MAX_BLOCK_MS every time.
 */
export async function replayOne (target: Target, input: Uint8Array, seed: number): Promise<{ outcome: string } | { crash: string }> {
  const uncaught: string[] = []
  const onException = (err: unknown): void => { uncaught.push(`uncaught exception: ${describe(err)}`) }
  const onRejection = (err: unknown): void => { uncaught.push(`unhandled rejection: ${describe(err)}`) }
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  try {
    let ms = Number.POSITIVE_INFINITY
    let outcome = ''
    for (let attempt = 0; attempt < BLOCK_ATTEMPTS && ms > MAX_BLOCK_MS; attempt++) {
      const started = performance.now()
      try {
        outcome = await exerciseBounded(target, input, seed)
      } catch (err) {
        return { crash: describe(err) }
      }
      await loopTurn()
      ms = Math.min(ms, performance.now() - started)
    }
    if (uncaught.length > 0) return { crash: uncaught[0] }
    if (ms > MAX_BLOCK_MS) return { crash: `held the event loop for ${ms.toFixed(1)} ms` }
    return { outcome }
  } finally {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}

/** Why a report fails a run; empty when it passes. */
export function failures (r: FuzzReport): string[] {
  const out = r.crashes.slice(0, 3).map(c => `${c.error} <- ${c.input.slice(0, 80)}${c.input.length > 80 ? '...' : ''}`)
  if (r.crashes.length > 3) out.push(`... and ${r.crashes.length - 3} more crashes`)
  if (r.gc && r.heapGrowthMiB > MAX_HEAP_GROWTH_MIB) out.push(`heap grew by ${r.heapGrowthMiB.toFixed(1)} MiB after GC (limit ${MAX_HEAP_GROWTH_MIB})`)
  return out
}
