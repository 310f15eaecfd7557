import { isIPv4, isIPv6 } from 'node:net'

/** Every route of the control API lives under this prefix. */
export const API_PREFIX = '/api/v1'

/** Limits and timeouts of the control API (server and client agree on them). */
export const API_LIMITS = {
  /** Largest request body (bytes): 64 KiB. */
  maxBodyBytes: 64 * 1024,
  /** Longest string field (a path, a multiaddr, a query) in UTF-16 code units. */
  maxStringLength: 4096,
  /** Most `from` multiaddrs one `get` may name. */
  maxFromAddrs: 64,
  /** Largest `ttl` of a search: Gnutella 0.6's hard cap (the flooding mode caps it again). */
  maxTtl: 10,
  /** Largest `timeoutMs` (ms): the setTimeout limit, about 24.8 days. */
  maxTimeoutMs: 2_147_483_647,
  /** The request line and headers must arrive within this (ms). */
  headersTimeoutMs: 10_000,
  /** The whole request (headers and body) must arrive within this (ms). */
  requestTimeoutMs: 30_000,
  /** A short route (id, ls, connect, peers, stats, stop) must answer within this (ms); `share` and `get` have none. */
  handlerTimeoutMs: 60_000,
  /** `search` may take its own `timeoutMs` plus this much (ms). */
  searchGraceMs: 15_000,
  /** `get` sends at most one progress line per this many ms (10/s). */
  progressIntervalMs: 100,
  /** Largest response body the client reads (bytes): 32 MiB (`ls` of a big share). */
  maxResponseBytes: 32 * 1024 * 1024,
  /** After `close()` begins, open connections get this long to finish (ms). */
  closeGraceMs: 2_000
} as const

/** The api file written into the repo by the daemon and read by the CLI. */
export interface ApiEndpoint {
  /** http://HOST:PORT of the control API */
  url: string
  /** bearer token */
  token: string
}

/** The error document every failing response carries. */
export interface ApiErrorBody {
  error: { code: string, message: string }
}

/**
 * Whether a host (as in `--api HOST:PORT`, IPv6 without brackets) is a
 * loopback address: 127.0.0.0/8, ::1 or `localhost`.
 */
export function isLoopbackHost (host: string): boolean {
  if (host.toLowerCase() === 'localhost') {
    return true
  }
  if (isIPv4(host)) {
    return host.startsWith('127.')
  }
  if (isIPv6(host)) {
    // the URL parser normalizes 0:0:0:0:0:0:0:1 and friends to [::1]
    return new URL(`http://[${host}]/`).hostname === '[::1]'
  }
  return false
}

/** HOST:PORT with IPv6 hosts in brackets, as in a URL or a Host header. */
export function formatHostPort (host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`
}
