import { pino } from 'pino'
import type { Logger, LoggerOptions } from 'pino'

export type { Logger }

export interface LoggerInit {
  /** pino level; default `SEDAI_LOG_LEVEL` or 'info' */
  level?: string
  /** pretty-print (pino-pretty); default: stderr is a TTY */
  pretty?: boolean
  /** where JSON lines go; default stderr (stdout is reserved for command output) */
  destination?: number
}

/**
 * The one pino root of a process. Components take `logger.child({ component })`
 * and put ids in fields, never in the message text.
 */
export function createLogger (init: LoggerInit = {}): Logger {
  const level = init.level ?? process.env.SEDAI_LOG_LEVEL ?? 'info'
  const destination = init.destination ?? 2
  const pretty = init.pretty ?? (process.stderr.isTTY === true && destination === 2)
  const options: LoggerOptions = { level, base: { pid: process.pid } }
  if (pretty) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { destination, colorize: true } } })
  }
  return pino(options, pino.destination({ dest: destination, sync: false }))
}

/** A logger that drops everything, for tests and library use without a root. */
export function silentLogger (): Logger {
  return pino({ level: 'silent' })
}
