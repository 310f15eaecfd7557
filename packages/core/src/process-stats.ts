import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { IntervalHistogram } from 'node:perf_hooks'

/** Event-loop delay is summarised per window of this length (ms), so the figures describe now, not the whole uptime. */
const DEFAULT_WINDOW_MS = 10_000
/** The monitor's sampling resolution (ms): finer costs CPU for nothing at these scales. */
const RESOLUTION_MS = 20

interface Window { p50: number, p99: number, max: number }

// one monitor per process, however many daemons share it (the lab packs hundreds into one)
let histogram: IntervalHistogram | undefined
let last: Window | undefined
let worst: Window | undefined
let windows = 0
let windowMs = DEFAULT_WINDOW_MS

/** Starts the process-wide monitor (once; later calls change nothing). processStats() starts it with the default window. */
export function startEventLoopMonitor (window: number = DEFAULT_WINDOW_MS): void {
  if (histogram !== undefined) return
  windowMs = window
  histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  const timer = setInterval(() => {
    const h = histogram as IntervalHistogram
    if (h.count > 0) {
      // nanoseconds to ms; the monitor's own resolution is included in every sample, so it is subtracted
      const ms = (ns: number): number => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 10) / 10)
      last = { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) }
      worst = worst === undefined ? last : { p50: Math.max(worst.p50, last.p50), p99: Math.max(worst.p99, last.p99), max: Math.max(worst.max, last.max) }
      windows++
    }
    h.reset()
  }, windowMs)
  timer.unref()
}

export interface ProcessStats {
  rssBytes: number
  heapUsedBytes: number
  /** event-loop delay over the last full window (ms), and the worst window since the monitor started; undefined until a window has passed */
  eventLoopDelayMs: { windowMs: number, windows: number, last?: Window, worst?: Window }
}

/** The process's memory and event-loop delay; starts the (process-wide) delay monitor on first use. */
export function processStats (): ProcessStats {
  startEventLoopMonitor()
  const m = process.memoryUsage()
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, eventLoopDelayMs: { windowMs, windows, last, worst } }
}
