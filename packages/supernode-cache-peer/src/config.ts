import { InvalidOptionError } from '@sedai/core'
import { DEFAULTS as FLOOD } from '@sedai/flooding-peer'

/**
 * Every tunable of the supernode/cache peer, in one place (docs/SUPERNODE.md
 * points here). The query rules among supernodes are the flooding package's
 * (Gnutella 0.6); the hierarchy's numbers follow KaZaA/FastTrack and
 * Gnutella 0.6 ultrapeers (LimeWire), with the reason next to each.
 */
export const DEFAULTS = Object.freeze({
  // ---- capacity and election ----
  /**
   * Capacity score weights (they sum to 1): upload bandwidth dominates, as
   * in KaZaA's supernode choice (bandwidth and uptime) and Skype's; CPU,
   * uptime and dialability break ties. Without a bandwidth measurement the
   * other terms reach at most 0.4, below the threshold: nobody becomes a
   * supernode on CPU alone.
   */
  weightBandwidth: 0.6,
  weightCpu: 0.15,
  weightUptime: 0.1,
  weightDialable: 0.15,
  /**
   * Upload bandwidth (bytes/s) that earns the full bandwidth term: ~8 Mbit/s, a good broadband
   * uplink (KaZaA-era supernodes needed far less; a dial-up or capped peer scores near 0).
   * The probe is short (PROBE_BYTES), so it measures a lower bound on fast links.
   */
  bandwidthRef: 1024 * 1024,
  /** Idle CPU cores that earn the full CPU term. */
  cpuRef: 4,
  /** Uptime (ms) that earns the full uptime term: KaZaA promoted nodes that had been up for a while. */
  uptimeRefMs: 60 * 60_000,
  /** A node is capable of being a supernode at or above this score ... */
  superThreshold: 0.6,
  /** ... and a supernode steps down only below threshold x this (hysteresis on the score). */
  demoteFactor: 0.8,
  /** The overlay "needs" supernodes while a node knows fewer than this (a leaf wants 1-3 of them). */
  minSupernodes: 3,
  /** ... or while every supernode it knows holds at least this fraction of its maximum of leaves. */
  promoteLoad: 0.75,
  /** A supernode with no leaf for this long (ms), when others have room, steps down. */
  idleSuperMs: 5 * 60_000,
  /** Least time (ms) in a role before an automatic change: roles do not flap. */
  minRoleMs: 5_000,
  /** The election runs this often (ms). */
  electionIntervalMs: 1_000,
  /** The bandwidth probe is repeated at most this far apart (ms; first after 2 s, then doubling); the best result counts. */
  probeIntervalMs: 10 * 60_000,

  // ---- hierarchy ----
  /** Supernodes a leaf attaches to (the issue: 1-3; LimeWire leaves kept 3 ultrapeers, KaZaA 1). */
  leafSupernodes: 2,
  /** Leaves a supernode takes at score 1 (scaled by the score: more capacity, more leaves); LimeWire ultrapeers took 30-45, KaZaA supernodes 100-150. */
  maxLeaves: 64,
  /** Other supernodes a supernode keeps links to, at least and at most (LimeWire: 32 ultrapeer links; small labs need fewer). */
  minPeers: 3,
  maxPeers: 8,
  /** Files one leaf may index at a supernode (more are ignored; Gnutella ultrapeers capped leaf QRP tables similarly). */
  maxFilesPerLeaf: 10_000,
  /** Supernodes remembered (host cache), and how long (ms) an entry stays fresh without news. */
  hostCacheSize: 200,
  hostFreshMs: 2 * 60_000,
  /** STATUS on an idle link this often (ms): keepalive, load and host discovery. */
  keepaliveMs: 5_000,
  /** A link with nothing received for this long is dead (ms). */
  idleTimeoutMs: 20_000,
  /** Maintenance (links, re-homing) runs this often (ms). */
  maintainIntervalMs: 1_000,
  /** A supernode that failed to link is not retried for this long (ms). */
  retryMs: 10_000,
  /** Dial + HELLO/WELCOME of a new link must finish within this (ms). */
  connectTimeoutMs: 5_000,

  // ---- queries (the flooding package's rules among supernodes) ----
  defaultTtl: FLOOD.defaultTtl,
  maxTtl: FLOOD.maxTtl,
  seenCacheSize: FLOOD.seenCacheSize,
  seenTtlMs: FLOOD.seenTtlMs,
  maxHitsPerQuery: FLOOD.maxHitsPerQuery,
  sendQueueSize: 1024,
  queryRatePerSec: FLOOD.queryRatePerSec,
  queryBurst: FLOOD.queryBurst,
  maxThrottledPerWindow: FLOOD.maxThrottledPerWindow,
  floodWindowMs: FLOOD.floodWindowMs,
  /**
   * A leaf or supernode peer dropped for flooding queries is banned as a flooding
   * neighbour is (docs/SUPERNODE.md "Flooding links"): refused for banMs, at most maxBanned remembered.
   */
  banMs: FLOOD.banMs,
  maxBanned: FLOOD.maxBanned,
  /** `get` without a recent hit floods a query for the CID; it waits this long at most (ms) ... */
  findProvidersTimeoutMs: 3_000,
  /** ... and this long after the first hit (ms). */
  findProvidersGraceMs: 300,
  /** CIDs whose hits (responders) are remembered for `get`. */
  providerCacheSize: 1_000,
  /** A link's reader hands the event loop back after this much work (ms), as the flooding peer's readTurnMs. */
  readTurnMs: 5,

  // ---- in-band transfer and cache ----
  /** Chance that a supernode keeps a chunk it relays (Winny caches relayed data probabilistically; Freenet always). */
  cacheProbability: 1,
  /** Bytes of cached (encrypted) chunks at most. */
  cacheBytes: 1024 * 1024 * 1024,
  /** Eviction policy: 'lfu' (see cache/cache.ts for why) or 'lru'. */
  cachePolicy: 'lfu' as 'lfu' | 'lru',
  /** Relayed requests of one neighbour worked on at once (a downloader keeps RELAY_WINDOW x RANGE_WINDOW = 32 in flight). */
  maxRelayPerLink: 64,
  /** Chunks held in memory for the ranges still to be relayed (a chunk travels as several ranges). */
  relayMemoryChunks: 16,
  /**
   * A relayed range unanswered for this long fails (ms). A supernode answers a range only once it
   * holds the whole chunk (it verifies before passing on), so this covers a 1 MiB chunk from a slow
   * holder: 4 chunks in flight at 100 KiB/s take ~40 s.
   */
  relayTimeoutMs: 60_000
})

export type SupernodeConfig = { -readonly [K in keyof typeof DEFAULTS]: typeof DEFAULTS[K] extends number ? number : typeof DEFAULTS[K] }

/** Environment knobs (docs/SUPERNODE.md): name -> config key. */
export const ENV_KNOBS = {
  SEDAI_SUPERNODE_THRESHOLD: 'superThreshold',
  SEDAI_SUPERNODE_MIN_SUPERNODES: 'minSupernodes',
  SEDAI_SUPERNODE_LEAF_SUPERNODES: 'leafSupernodes',
  SEDAI_SUPERNODE_MAX_LEAVES: 'maxLeaves',
  SEDAI_SUPERNODE_MIN_ROLE_MS: 'minRoleMs',
  SEDAI_SUPERNODE_TTL: 'defaultTtl',
  SEDAI_SUPERNODE_CACHE_PROBABILITY: 'cacheProbability',
  SEDAI_SUPERNODE_CACHE_BYTES: 'cacheBytes',
  SEDAI_SUPERNODE_CACHE_POLICY: 'cachePolicy',
  SEDAI_SUPERNODE_KEEPALIVE_MS: 'keepaliveMs',
  SEDAI_SUPERNODE_IDLE_TIMEOUT_MS: 'idleTimeoutMs'
} as const satisfies Record<string, keyof SupernodeConfig>

/** The config: `init.x ?? env ?? DEFAULTS.x`, checked once. */
export function resolveConfig (init: Partial<SupernodeConfig> = {}, env: NodeJS.ProcessEnv = {}): SupernodeConfig {
  const config: SupernodeConfig = { ...DEFAULTS }
  for (const [name, key] of Object.entries(ENV_KNOBS)) {
    const raw = env[name]
    if (raw === undefined || raw === '') continue
    if (key === 'cachePolicy') {
      if (raw !== 'lfu' && raw !== 'lru') throw new InvalidOptionError(`${name}: '${raw}' is not lfu or lru`)
      config.cachePolicy = raw
      continue
    }
    const n = Number(raw)
    if (!Number.isFinite(n) || n < 0) throw new InvalidOptionError(`${name}: '${raw}' is not a number >= 0`)
    ;(config as Record<string, unknown>)[key] = n
  }
  for (const [key, value] of Object.entries(init)) {
    if (value !== undefined) (config as Record<string, unknown>)[key] = value
  }
  if (config.maxTtl > FLOOD.maxTtl) config.maxTtl = FLOOD.maxTtl
  if (!Number.isInteger(config.defaultTtl) || config.defaultTtl < 1 || config.defaultTtl > config.maxTtl) {
    throw new InvalidOptionError(`supernode TTL ${config.defaultTtl} is outside 1..${config.maxTtl}`)
  }
  if (config.cacheProbability > 1) throw new InvalidOptionError(`cache probability ${config.cacheProbability} above 1`)
  if (config.superThreshold > 1) throw new InvalidOptionError(`supernode threshold ${config.superThreshold} above 1`)
  if (!Number.isInteger(config.leafSupernodes) || config.leafSupernodes < 1 || config.leafSupernodes > 3) {
    throw new InvalidOptionError(`a leaf attaches to 1 to 3 supernodes, not ${config.leafSupernodes}`)
  }
  if (config.minPeers > config.maxPeers) throw new InvalidOptionError(`supernode peers: min ${config.minPeers} > max ${config.maxPeers}`)
  return config
}
