import { InvalidOptionError } from '@sedai/core/errors'
import { MAX_SESSION_PEERS } from './constants.ts'

const KiB = 1024
const MiB = 1024 * KiB

/**
 * Every tunable of the directory (Gen 1), server and peer side, in one place.
 * docs/DIRECTORY.md points here instead of repeating the numbers. The ones
 * marked "env" can be set per process (tests use short heartbeats, the
 * benchmark lifts the per-peer rate limits); see `directoryConfig()`.
 */
export const DIRECTORY_DEFAULTS = {
  /** A peer sends PING this often; the server learns liveness from it (ms). env SEDAI_DIRECTORY_HEARTBEAT_MS */
  heartbeatMs: 20_000,
  /**
   * A peer's entries stay this long after its last sign of life (a message, or
   * its session closing) before they are dropped (ms). Must exceed the
   * heartbeat. A restarted server gives every peer it remembers this long to
   * come back. env SEDAI_DIRECTORY_GRACE_MS
   */
  graceMs: 60_000,
  /** A request the server does not answer within this fails (ms); `search` therefore fails fast. env SEDAI_DIRECTORY_REQUEST_TIMEOUT_MS */
  requestTimeoutMs: 2_000,
  /** Dialing the server gives up after this (ms); `search` while the server is down waits at most this for a fresh dial. */
  dialTimeoutMs: 2_000,
  /** First delay before redialing a lost server (ms); doubles up to `reconnectMaxMs`, with jitter. */
  reconnectMinMs: 250,
  /** Longest delay between redials (ms); also capped at heartbeatMs / 2 so a returning server sees every peer within 2 heartbeats. */
  reconnectMaxMs: 10_000,
  /** A REGISTER carries at most this many files; a peer with more sends several (Napster sent one message per file). */
  maxFilesPerRegister: 1_000,
  /** Files a peer batches into one REGISTER (below the server's limit, and small enough to keep the server's event loop responsive). */
  registerBatch: 500,
  /** Files one peer may have registered in total. env SEDAI_DIRECTORY_MAX_FILES_PER_PEER */
  maxFilesPerPeer: 50_000,
  /** Longest file name accepted, in UTF-8 bytes (the common file-system limit; names come from files on disk). */
  maxNameBytes: 255,
  /** Longest CID string accepted (a CIDv1 sha2-256 in base32 is 59 characters). */
  maxCidChars: 128,
  /** Addresses a peer may register for itself, and the longest one (characters). */
  maxAddrs: 8,
  maxAddrChars: 256,
  /** Most results per SEARCH (Napster's cap) and the default when the request names none. */
  maxResults: 100,
  /** Providers listed per search hit (the total is always given); LOOKUP lists up to `maxLookupProviders`. */
  providersPerHit: 8,
  maxLookupProviders: 64,
  /** Files per BROWSE reply (the peer pages with `offset`). */
  maxBrowse: 1_000,
  /** Longest query (characters) and most keywords in one query. */
  maxQueryChars: 256,
  maxKeywords: 8,
  /** CIDs per UNREGISTER. */
  maxUnregister: 1_000,
  /** Largest frame a peer may send the server (bytes): a full REGISTER fits. */
  maxRequestFrameBytes: 512 * KiB,
  /** Largest frame the server sends (bytes): 100 hits with 8 providers of 8 addresses fit. */
  maxReplyFrameBytes: 4 * MiB,
  /** Queries (SEARCH, LOOKUP, BROWSE) per second per peer, and the burst; 0 = unlimited. env SEDAI_DIRECTORY_QUERY_RATE */
  queryRate: 20,
  queryBurst: 40,
  /** Control messages (HELLO, REGISTER, UNREGISTER, PING) per second per peer, and the burst; 0 = unlimited. env SEDAI_DIRECTORY_CONTROL_RATE */
  controlRate: 20,
  controlBurst: 200,
  /** A throttled peer's stream is not read for up to this long per refused message (ms): the flood stalls, the others are served. */
  maxThrottleMs: 1_000,
  /**
   * A session's requests are answered back to back (their replies sent in one
   * write) for at most this long (ms) before the server gives the event loop a
   * turn: other sessions, and libp2p's pings, wait at most this plus one request.
   */
  sessionTurnMs: 1,
  /**
   * Peers the index holds at most (each with up to maxFilesPerPeer files); a
   * REGISTER from one more peer gets an ERROR status. env SEDAI_DIRECTORY_MAX_PEERS
   */
  maxPeers: 100_000,
  /**
   * Per-peer states (rate-limit buckets, session counts) kept at most. A state
   * outlives its last session by the grace period (so reconnecting does not
   * refill a flooder's bucket); when the table is full the states of peers
   * with no session and nothing registered are dropped first, and a session
   * that still finds no room is refused. env SEDAI_DIRECTORY_MAX_PEER_STATES
   */
  maxPeerStates: 120_000,
  /** Directory streams a connection may open at once. */
  maxStreamsPerConnection: 4,
  /** Search latencies kept for the p50/p99 in `sedai stats`. */
  latencyWindow: 10_000,
  /**
   * FTS5 segment merging (see DirectoryIndex.maintain): every `mergeIntervalMs`
   * the server merges in steps of `mergePages` pages for at most
   * `mergeBudgetMs` (a step is not interrupted: a few ms to tens of ms), so
   * searches keep flowing. Once no write came for `mergeQuietMs` the index is
   * merged into one segment, where an AND search runs several times faster.
   */
  mergeIntervalMs: 200,
  mergeBudgetMs: 20,
  mergePages: 16,
  mergeQuietMs: 2_000,
  /** Repeated identical searches are answered from a cache until the index changes; entries kept. 0 = off. env SEDAI_DIRECTORY_CACHE */
  searchCacheEntries: 1_000,
  /**
   * Files kept encoded as search replies carry them (DirectoryIndex): a search
   * whose files are all here reads only FTS5's rowids. About 0.9 KB of memory
   * each (measured: RSS over 10^5 entries; mostly the allocator's cost of one
   * small buffer per entry), so ~18 MB at this size: the top hits of 200 popular
   * searches. 0 = off (every search joins the files table). env SEDAI_DIRECTORY_HIT_CACHE
   */
  hitCacheEntries: 20_000,
  /** Peer-table entries remembered per session (at most MAX_SESSION_PEERS, the protocol's bound; constants.ts) */
  maxSessionPeers: MAX_SESSION_PEERS
}

export type DirectoryConfig = typeof DIRECTORY_DEFAULTS

const ENV: Record<string, keyof typeof DIRECTORY_DEFAULTS> = {
  SEDAI_DIRECTORY_HEARTBEAT_MS: 'heartbeatMs',
  SEDAI_DIRECTORY_GRACE_MS: 'graceMs',
  SEDAI_DIRECTORY_REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
  SEDAI_DIRECTORY_MAX_FILES_PER_PEER: 'maxFilesPerPeer',
  SEDAI_DIRECTORY_QUERY_RATE: 'queryRate',
  SEDAI_DIRECTORY_CONTROL_RATE: 'controlRate',
  SEDAI_DIRECTORY_CACHE: 'searchCacheEntries',
  SEDAI_DIRECTORY_HIT_CACHE: 'hitCacheEntries',
  SEDAI_DIRECTORY_MAX_PEERS: 'maxPeers',
  SEDAI_DIRECTORY_MAX_PEER_STATES: 'maxPeerStates'
}

/** The environment variables `directoryConfig` reads, for docs and error messages. */
export const DIRECTORY_ENV = Object.keys(ENV)

/**
 * DIRECTORY_DEFAULTS, overridden by the SEDAI_DIRECTORY_* environment
 * variables and then by `overrides`. Throws InvalidOptionError for a value
 * that is not a whole number >= 0, or a grace period not above the heartbeat.
 */
export function directoryConfig (overrides: Partial<typeof DIRECTORY_DEFAULTS> = {}, env: NodeJS.ProcessEnv = process.env): DirectoryConfig {
  const config: Record<string, unknown> = { ...DIRECTORY_DEFAULTS }
  for (const [name, key] of Object.entries(ENV)) {
    const raw = env[name]
    if (raw === undefined || raw === '') continue
    const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
    if (!Number.isSafeInteger(n)) throw new InvalidOptionError(`${name}: '${raw}' is not a whole number`)
    config[key] = n
  }
  Object.assign(config, Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)))
  const c = config as DirectoryConfig
  if (!(c.heartbeatMs >= 100)) throw new InvalidOptionError(`heartbeat interval ${c.heartbeatMs} ms is below 100 ms`)
  if (!(c.graceMs > c.heartbeatMs)) throw new InvalidOptionError(`grace period ${c.graceMs} ms must exceed the heartbeat interval ${c.heartbeatMs} ms`)
  c.registerBatch = Math.min(c.registerBatch, c.maxFilesPerRegister)
  return c
}
