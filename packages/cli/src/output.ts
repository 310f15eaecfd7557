import { InvalidOptionError } from '@sedai/core/errors'
import type { GetProgress } from './daemon-api.ts'

/** Where a command writes: process.stdout/stderr, or a buffer in tests. */
export interface Output {
  write(text: string): unknown
  isTTY?: boolean
  columns?: number
}

export interface Io {
  stdout: Output
  stderr: Output
}

/** Exit codes of the CLI. */
export const EXIT = {
  ok: 0,
  /** the operation failed */
  failed: 1,
  /** unknown command or flag, missing argument, bad value */
  usage: 2
} as const

/** Error codes that mean the user asked for something malformed (exit code 2), whoever noticed it. */
const USAGE_CODES = new Set([new InvalidOptionError().code, 'ERR_INVALID_CID'])

/** One JSON document (with --json) or the human form. */
export function print (io: Io, json: boolean, value: unknown, human: () => string): void {
  if (json) {
    io.stdout.write(JSON.stringify(value, null, 2) + '\n')
    return
  }
  const text = human()
  if (text !== '') {
    io.stdout.write(text.endsWith('\n') ? text : text + '\n')
  }
}

/**
 * Reports a failure: one line `error: <message>` on stderr and, with --json,
 * `{"error":{code,message}}` on stdout. Returns the exit code.
 */
export function reportError (io: Io, json: boolean, err: unknown): number {
  const rawCode = (err as { code?: unknown } | null)?.code
  const code = typeof rawCode === 'string' ? rawCode : 'ERR_INTERNAL'
  const raw = err instanceof Error ? err.message : String(err)
  const message = raw.split('\n')[0].trim() || 'unknown error'
  io.stderr.write(`error: ${message}\n`)
  if (json) {
    io.stdout.write(JSON.stringify({ error: { code, message } }) + '\n')
  }
  return USAGE_CODES.has(code) ? EXIT.usage : EXIT.failed
}

/** 1536 -> "1.5 KiB" */
export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** Rows of cells joined by two spaces, columns padded to their widest cell (the last one is not). */
export function table (rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  }
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join('  ')).join('\n')
}

/** How far back the transfer rate looks (ms). */
const RATE_WINDOW_MS = 3_000

/**
 * A one-line progress bar for `get` on a TTY: percent, MB/s over the last few
 * seconds, number of sources. Draws only when the stream is a TTY.
 */
export class ProgressBar {
  private readonly out: Output
  private readonly now: () => number
  private readonly samples: Array<{ at: number, fetched: number }> = []
  private drawn = false

  constructor (out: Output, now: () => number = Date.now) {
    this.out = out
    this.now = now
  }

  get enabled (): boolean {
    return this.out.isTTY === true
  }

  update (progress: GetProgress): void {
    if (!this.enabled) {
      return
    }
    const at = this.now()
    this.samples.push({ at, fetched: progress.fetched })
    while (this.samples.length > 2 && at - this.samples[0].at > RATE_WINDOW_MS) {
      this.samples.shift()
    }
    this.out.write('\r\x1b[2K' + this.line(progress))
    this.drawn = true
  }

  /** Removes the bar so the result line starts clean. */
  clear (): void {
    if (this.drawn) {
      this.out.write('\r\x1b[2K')
      this.drawn = false
    }
  }

  /** The text of the bar, without control characters. */
  line (progress: GetProgress): string {
    const fraction = progress.size > 0 ? Math.min(1, progress.have / progress.size) : 1
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    const seconds = first !== undefined && last !== undefined ? (last.at - first.at) / 1000 : 0
    const rate = seconds > 0 ? (last.fetched - first.fetched) / seconds / 1e6 : 0
    const sources = progress.sources.length
    const tail = `${percent}  ${rate.toFixed(1).padStart(6)} MB/s  ${sources} source${sources === 1 ? '' : 's'}`
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - tail.length - 4))
    const filled = Math.round(fraction * width)
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${tail}`
  }
}
