import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULTS, defaultRepo } from '@sedai/core/config'
import { InvalidOptionError } from '@sedai/core/errors'
import { API_LIMITS, isLoopbackHost } from './api-common.ts'

/** Where relative paths and the default repo come from. */
export interface ArgsEnv {
  cwd: string
  env: NodeJS.ProcessEnv
}

/** Options every command takes. */
export interface CommonArgs {
  /** absolute repo folder */
  repo: string
  /** print one JSON document on stdout */
  json: boolean
}

/** The `--repo` and `--json` flags, for spreading into a parseArgs options object. */
export const COMMON_OPTIONS = {
  repo: { type: 'string' },
  json: { type: 'boolean', default: false }
} as const

/** Modes a daemon can run, one per discovery generation (plus the directory's server side). */
export const DAEMON_MODES = ['directory-server', 'directory', 'flood', 'supernode', 'dht'] as const
export type DaemonMode = typeof DAEMON_MODES[number]

/**
 * `sedai daemon` without --mode runs the DHT, as IPFS and BitTorrent clients
 * do by default: a daemon as started then searches and is found. It needs no
 * server (Gen 1) and no well-connected neighbours (Gen 2, 3), only one peer to
 * join through: --bootstrap, or one found on the LAN with --mdns.
 */
export const DEFAULT_MODES: readonly DaemonMode[] = ['dht']

/** `--mode none`: no generation at all, a peer that shares and fetches from peers it is told about. */
export const NO_MODE = 'none'

export interface DaemonOptions extends CommonArgs {
  /**
   * no duplicates; default DEFAULT_MODES; [] (`--mode none`) = a plain peer
   * that shares and fetches from peers it is told about
   */
  modes: DaemonMode[]
  /** multiaddrs to listen on; default DEFAULTS.listen */
  listen: string[]
  /** the control API address, a loopback host (IPv6 without brackets) and a port (0 = any free port) */
  api: { host: string, port: number }
  /** peers to dial at start */
  bootstrap: string[]
  /** the directory server for mode `directory` */
  directory?: string
  /** fraction (0..1) of served chunks a seeder corrupts on purpose, for tests and labs; default 0 */
  faultCorrupt: number
  /** upload cap in bytes per second over all transfers; 0 = none */
  uploadRate: number
  /** `--role auto|super|leaf` for mode `supernode`; default auto */
  role: 'auto' | 'super' | 'leaf'
  /** `--interest WORD` (repeatable): interest keywords for mode `supernode` */
  interests: string[]
  /**
   * `--limit-loopback`: loopback peers face libp2p's per-host inbound limits
   * like any other host (by default they bypass them: DEFAULTS.allowLoopback)
   */
  limitLoopback: boolean
  /** `--mdns`: find and dial daemons on the LAN by multicast DNS (off by default: multicast leaves the machine) */
  mdns: boolean
}

/** The ArgsEnv of this process. */
export function processArgsEnv (): ArgsEnv {
  return { cwd: process.cwd(), env: process.env }
}

/**
 * Runs util.parseArgs (or any parser) and turns its errors into
 * InvalidOptionError (exit code 2) with a short one-line message.
 */
export function usageErrors<T> (command: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      const message = (err as Error).message
      const unknown = /^Unknown option '([^']+)'/.exec(message)
      if (unknown !== null) {
        throw new InvalidOptionError(`unknown option '${unknown[1]}' for 'sedai ${command}'`)
      }
      throw new InvalidOptionError(message.split('\n')[0].replace(/\.$/, ''))
    }
    throw err
  }
}

/** `--repo` (resolved against cwd) or the default repo, and `--json`. */
export function commonArgs (values: { repo?: string, json?: boolean }, at: ArgsEnv): CommonArgs {
  const repo = values.repo === undefined ? defaultRepo(at.env) : values.repo
  if (repo === '') {
    throw new InvalidOptionError('--repo needs a folder')
  }
  return { repo: resolve(at.cwd, repo), json: values.json === true }
}

/** Checks the number of positional arguments: `names` are required, `extra` allows more. */
export function expectPositionals (command: string, positionals: string[], names: string[], extra = false): void {
  if (positionals.length < names.length) {
    throw new InvalidOptionError(`'sedai ${command}' needs ${names.slice(positionals.length).join(' ')}`)
  }
  if (!extra && positionals.length > names.length) {
    throw new InvalidOptionError(`unexpected argument '${positionals[names.length]}' for 'sedai ${command}'`)
  }
}

/** A multiaddr string that parses, else a usage error naming the flag. */
export function checkMultiaddr (value: string, what: string): string {
  try {
    multiaddr(value)
    return value
  } catch (err) {
    throw new InvalidOptionError(`${what}: '${value}' is not a multiaddr (${(err as Error).message})`)
  }
}

/** `--timeout-ms N`: a positive integer of milliseconds. */
export function parseTimeoutMs (value: string | undefined): number | undefined {
  if (value === undefined) {
    return undefined
  }
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= 1 && n <= API_LIMITS.maxTimeoutMs)) {
    throw new InvalidOptionError(`--timeout-ms: '${value}' is not a whole number of milliseconds from 1 to ${API_LIMITS.maxTimeoutMs}`)
  }
  return n
}

/** `HOST:PORT` with a loopback host (`[::1]:PORT` for IPv6) and a port 0..65535. */
export function parseApiAddress (value: string): { host: string, port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  if (match === null) {
    throw new InvalidOptionError(`--api: '${value}' is not HOST:PORT (IPv6 as [::1]:PORT)`)
  }
  const host = match[1] ?? match[2]
  const port = Number(match[3])
  if (port > 65_535) {
    throw new InvalidOptionError(`--api: port ${port} is out of range (0..65535)`)
  }
  if (!isLoopbackHost(host)) {
    throw new InvalidOptionError(`--api: '${host}' is not a loopback address (127.x.x.x, ::1 or localhost); the control API is local only`)
  }
  return { host, port }
}

/** `--fault-corrupt RATE`: a fraction 0..1. */
export function parseRate (value: string, flag: string): number {
  const n = /^(?:\d+(?:\.\d*)?|\.\d+)$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= 0 && n <= 1)) {
    throw new InvalidOptionError(`${flag}: '${value}' is not a fraction from 0 to 1`)
  }
  return n
}

/** `--upload-rate N[K|M|G]`: bytes per second (binary multiples), 0 = unlimited. */
export function parseByteRate (value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMG]?)$/i.exec(value)
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(match?.[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G']
  const n = match === null ? Number.NaN : Math.round(Number(match[1]) * unit)
  if (!(n >= 0 && Number.isSafeInteger(n))) {
    throw new InvalidOptionError(`${flag}: '${value}' is not a byte rate (e.g. 500K, 16M; 0 = unlimited)`)
  }
  return n
}

/**
 * `--mode M[,M...]` (repeatable): known modes, duplicates dropped, in order of
 * first mention; none given = DEFAULT_MODES; `none` alone = no mode.
 */
export function parseModes (values: string[]): DaemonMode[] {
  if (values.length === 0) return [...DEFAULT_MODES]
  const modes: DaemonMode[] = []
  let none = false
  for (const value of values) {
    for (const raw of value.split(',')) {
      const mode = raw.trim()
      if (mode === NO_MODE) {
        none = true
        continue
      }
      if (!(DAEMON_MODES as readonly string[]).includes(mode)) {
        throw new InvalidOptionError(`--mode: unknown mode '${mode}' (expected ${DAEMON_MODES.join(', ')} or ${NO_MODE})`)
      }
      if (!modes.includes(mode as DaemonMode)) {
        modes.push(mode as DaemonMode)
      }
    }
  }
  if (none && modes.length > 0) {
    throw new InvalidOptionError(`--mode: '${NO_MODE}' cannot be combined with other modes (${modes.join(', ')})`)
  }
  return modes
}

const ROLES = ['auto', 'super', 'leaf'] as const

function parseRole (raw: string | undefined): DaemonOptions['role'] {
  if (raw === undefined) return 'auto'
  if (!(ROLES as readonly string[]).includes(raw)) throw new InvalidOptionError(`--role: '${raw}' is not one of ${ROLES.join(', ')}`)
  return raw as DaemonOptions['role']
}

/** An interest keyword: one word, lower-cased (NFKC), 1..32 bytes. */
function parseInterest (raw: string): string {
  const word = raw.normalize('NFKC').trim().toLowerCase()
  const bytes = Buffer.byteLength(word)
  if (bytes < 1 || bytes > 32 || /\s/.test(word)) throw new InvalidOptionError(`--interest: '${raw}' is not one word of 1 to 32 bytes`)
  return word
}

/**
 * `sedai daemon [--mode M[,M...]|none] [--listen MULTIADDR]... [--api HOST:PORT]
 * [--bootstrap MULTIADDR]... [--mdns] [--directory MULTIADDR] [--fault-corrupt RATE] [--upload-rate N]
 * [--role auto|super|leaf] [--interest WORD]... [--limit-loopback]`.
 * Throws InvalidOptionError (exit code 2) for anything it cannot accept.
 */
export function parseDaemonArgs (argv: string[], at: ArgsEnv = processArgsEnv()): DaemonOptions {
  const { values, positionals } = usageErrors('daemon', () => parseArgs({
    args: argv,
    options: {
      ...COMMON_OPTIONS,
      mode: { type: 'string', multiple: true },
      listen: { type: 'string', multiple: true },
      api: { type: 'string' },
      bootstrap: { type: 'string', multiple: true },
      directory: { type: 'string' },
      'fault-corrupt': { type: 'string' },
      'upload-rate': { type: 'string' },
      role: { type: 'string' },
      interest: { type: 'string', multiple: true },
      'limit-loopback': { type: 'boolean' },
      mdns: { type: 'boolean' }
    },
    strict: true,
    allowPositionals: true
  }))
  expectPositionals('daemon', positionals, [])
  const options: DaemonOptions = {
    ...commonArgs(values, at),
    modes: parseModes(values.mode ?? []),
    listen: (values.listen ?? [...DEFAULTS.listen]).map((addr) => checkMultiaddr(addr, '--listen')),
    api: parseApiAddress(values.api ?? DEFAULTS.api),
    bootstrap: (values.bootstrap ?? []).map((addr) => checkMultiaddr(addr, '--bootstrap')),
    faultCorrupt: values['fault-corrupt'] === undefined ? 0 : parseRate(values['fault-corrupt'], '--fault-corrupt'),
    uploadRate: values['upload-rate'] === undefined ? DEFAULTS.uploadRate : parseByteRate(values['upload-rate'], '--upload-rate'),
    role: parseRole(values.role),
    interests: (values.interest ?? []).map(parseInterest),
    limitLoopback: values['limit-loopback'] === true,
    mdns: values.mdns === true
  }
  if (values.directory !== undefined) {
    options.directory = checkMultiaddr(values.directory, '--directory')
  }
  return options
}
