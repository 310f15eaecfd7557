import { InvalidOptionError } from '@sedai/core'

/**
 * Every tunable of the flooding peer, in one place (docs/FLOOD.md points here).
 * Gnutella 0.6 (RFC-Gnutella 0.6, section 2.2 and 3) fixes the TTL rules;
 * the rest are this implementation's choices, with the reason next to each.
 */
export const DEFAULTS = {
  /** TTL of a new query: Gnutella 0.6 recommends 7 ("TTL+Hops ... should not exceed 7"). */
  defaultTtl: 7,
  /** Hard cap on TTL + hops, for our queries and for those we forward: Gnutella 0.6 servents reject or clamp above this; 10 here. */
  maxTtl: 10,
  /**
   * Neighbours kept at least (topped up from the host cache) and at most (more are refused
   * with BYE FULL). Gnutella 0.6 servents kept a handful of connections (LimeWire: 6 for a
   * leaf-less peer); 0 as minimum disables topping up (a test's fixed topology stays fixed).
   */
  minNeighbours: 3,
  maxNeighbours: 8,
  /** Peers remembered from PONGs (entries), oldest forgotten first. */
  hostCacheSize: 200,
  /** Query ids remembered with the neighbour they came from (the reverse path). */
  seenCacheSize: 10_000,
  /** A remembered query id is forgotten after this (ms); hits for it are then dropped. Gnutella routing tables keep ~10 min. */
  seenTtlMs: 10 * 60_000,
  /** QUERY_HITs routed back for one query id at most (a bound on what one query can pull through a peer). */
  maxHitsPerQuery: 256,
  /** Messages waiting to be sent to one neighbour; above this, queries are shed first. */
  sendQueueSize: 256,
  /** Queries accepted from one neighbour per second (token bucket rate) ... */
  queryRatePerSec: 50,
  /** ... with this burst; queries beyond are dropped and the neighbour is throttled. */
  queryBurst: 100,
  /** Queries dropped for rate within `floodWindowMs` after which the neighbour is disconnected and banned. */
  maxThrottledPerWindow: 500,
  floodWindowMs: 5_000,
  /** A peer dropped for flooding may not link again for this long (ms). */
  banMs: 10 * 60_000,
  /**
   * Bans remembered at most: a flooder that cycles identities cannot grow the
   * table without bound; when full, expired bans go first, then the oldest.
   */
  maxBanned: 4_096,
  /** PING on an idle link this often (ms): keepalive and host discovery. */
  keepaliveMs: 15_000,
  /** A link with nothing received for this long is dead (ms); also the stream's idle deadline. */
  idleTimeoutMs: 45_000,
  /** Maintenance (bootstrap retry, top-up, keepalive) runs this often (ms). */
  maintainIntervalMs: 1_000,
  /** A host-cache entry that failed to link is not retried for this long (ms). */
  retryMs: 30_000,
  /** Dial + protocol negotiation of a new link must finish within this (ms). */
  connectTimeoutMs: 5_000,
  /** `get` without --from floods a query for the CID; it waits this long at most (ms) ... */
  findProvidersTimeoutMs: 3_000,
  /** ... and this long after the first hit, for more sources (ms). */
  findProvidersGraceMs: 300,
  /** CIDs whose providers (from hits) are remembered for `get`. */
  providerCacheSize: 1_000,
  /**
   * A link's reader hands the event loop back after this much work (ms), as
   * the directory server's sessionTurnMs: a neighbour's batch of buffered
   * queries otherwise runs to the end in one turn, and every other link (and
   * libp2p's own traffic) waits behind it.
   */
  readTurnMs: 5,
  /** Per-query records kept for `sedai stats` (messages per link per query id). */
  statsQueries: 64
} as const

export type FloodConfig = { -readonly [K in keyof typeof DEFAULTS]: number }

/** Environment knobs (documented in docs/FLOOD.md): name -> config key. */
export const ENV_KNOBS = {
  SEDAI_FLOOD_MIN_NEIGHBOURS: 'minNeighbours',
  SEDAI_FLOOD_MAX_NEIGHBOURS: 'maxNeighbours',
  SEDAI_FLOOD_TTL: 'defaultTtl',
  SEDAI_FLOOD_QUERY_RATE: 'queryRatePerSec',
  SEDAI_FLOOD_QUERY_BURST: 'queryBurst',
  SEDAI_FLOOD_KEEPALIVE_MS: 'keepaliveMs',
  SEDAI_FLOOD_MAINTAIN_MS: 'maintainIntervalMs'
} as const satisfies Record<string, keyof FloodConfig>

/** The config: `init.x ?? env ?? DEFAULTS.x`, checked once. */
export function resolveConfig (init: Partial<FloodConfig> = {}, env: NodeJS.ProcessEnv = {}): FloodConfig {
  const config: FloodConfig = { ...DEFAULTS }
  for (const [name, key] of Object.entries(ENV_KNOBS)) {
    const raw = env[name]
    if (raw === undefined || raw === '') continue
    if (!/^\d+$/.test(raw)) throw new InvalidOptionError(`${name}: '${raw}' is not a whole number`)
    config[key] = Number(raw)
  }
  for (const [key, value] of Object.entries(init)) {
    if (value !== undefined) config[key as keyof FloodConfig] = value
  }
  if (config.maxTtl > DEFAULTS.maxTtl) config.maxTtl = DEFAULTS.maxTtl
  if (config.defaultTtl < 1 || config.defaultTtl > config.maxTtl) {
    throw new InvalidOptionError(`flood TTL ${config.defaultTtl} is outside 1..${config.maxTtl}`)
  }
  if (config.maxNeighbours < 1 || config.minNeighbours > config.maxNeighbours) {
    throw new InvalidOptionError(`flood neighbours: min ${config.minNeighbours} / max ${config.maxNeighbours} make no sense`)
  }
  return config
}
