/**
 * Every tunable of @sedai/dht-peer, in one place; docs/DHT.md points here.
 * Each can be overridden by an environment variable (see ENV) so a lab or a
 * test can speed the DHT's timers up without a new CLI flag.
 */
export const DEFAULTS = {
  /** kad-dht protocol id: private, so lab nodes never join the public IPFS DHT (/ipfs/kad/1.0.0). */
  protocol: '/sedai/kad/1.0.0',
  /** Bucket size and replication factor: Kademlia's k = 20 (Maymounkov & Mazieres 2002, section 2.2). */
  kBucketSize: 20,
  /** Lookup concurrency: Kademlia's alpha = 3 (section 2.3); kad-dht's own default is 10. */
  alpha: 3,
  /** Disjoint lookup paths (S/Kademlia section 4.4); 1 = plain Kademlia. */
  disjointPaths: 1,
  /** How often the node looks up its own id to keep its neighbourhood fresh (ms); kad-dht's default is 5 min. */
  querySelfIntervalMs: 60_000,
  /** First self-lookup after start (ms): the Kademlia join is a lookup of one's own id. */
  initialQuerySelfIntervalMs: 500,
  /** Provider records are valid this long (ms): 48 h, as in kad-dht and the IPFS DHT. */
  providerValidityMs: 48 * 3600_000,
  /** Own records are re-published when they are this close to expiry (ms): 24 h, so every record is refreshed well before it lapses. */
  reprovideThresholdMs: 24 * 3600_000,
  /** How often the re-provide/cleanup pass runs (ms). */
  reprovideIntervalMs: 3600_000,
  /** Provide operations run at once when many files are shared together. */
  provideConcurrency: 4,
  /** A provide (lookup + ADD_PROVIDER to the k closest) must finish within this (ms). */
  provideTimeoutMs: 30_000,
  /**
   * A get's lookup, once it has a first provider, goes on collecting for as
   * long again as that took (lookup.ts adaptiveSettle), at least this (ms)...
   */
  providerSettleMinMs: 10,
  /** ... and at most this (ms). A search does not wait at all: it asks each provider as it is named. */
  providerSettleMaxMs: 300,
  /**
   * kad-dht's RPC timeout is adaptive (1.2 x the moving average of recent
   * round trips); its floor defaults to 5 s, so one stalled peer holds one of
   * the alpha lookup slots for 5 s. These bounds fit a LAN or loopback (ms);
   * the floor leaves room for a loaded 2-core machine running a whole lab,
   * where a round trip can take hundreds of ms (a timed-out RPC is a peer lost
   * to that walk).
   */
  rpcTimeoutMinMs: 1_000,
  rpcTimeoutMaxMs: 2_000,
  /** Most providers collected per lookup (kad-dht itself stops at k). */
  maxProviders: 20,
  /** Keywords published per file name; the rest of a long name is not indexed. */
  maxKeywordsPerFile: 32,
  /** Peers asked for their matching files in one search. */
  maxSearchPeers: 32,
  /** Peers asked at once during a search. */
  searchConcurrency: 8,
  /**
   * When our own provider store has a keyword's records, the holders it
   * names are asked first and the network walk waits for their answers, at
   * most this long (ms): its RPCs would compete with those asks for the CPU
   * and the connections, and delay the first hit.
   */
  localFirstMs: 250,
  /**
   * 1 = kad-dht refreshes its routing table (a lookup per bucket at start and
   * every 5 min, kad-dht's behaviour); 0 = it does not. A lab of hundreds of
   * nodes on two cores turns it off: at start those lookups are most of the
   * work (kad-dht has no option for it, so the mode stops the timer itself).
   */
  routingTableRefresh: 1,
  /**
   * 1 = kad-dht pings every new contact before it enters the routing table
   * (its behaviour, and the daemon's: a dead peer named in a reply is kept
   * out); 0 = a contact is taken as live without the ping. Only for labs
   * where no node leaves: a ping needs a connection, so every peer named in
   * any reply gets dialled and the nodes drift to a full mesh (docs/DHT.md,
   * the N = 256 bench).
   */
  contactPings: 1,
  /** Latency samples kept for the percentiles in `sedai stats`. */
  latencySamples: 1024
} as const

export type DhtConfig = { -readonly [K in keyof typeof DEFAULTS]: typeof DEFAULTS[K] extends string ? string : number }

/** Environment variables that override DEFAULTS (integers, ms where the name says so). */
export const ENV: Partial<Record<keyof typeof DEFAULTS, string>> = {
  kBucketSize: 'SEDAI_DHT_K',
  alpha: 'SEDAI_DHT_ALPHA',
  disjointPaths: 'SEDAI_DHT_DISJOINT_PATHS',
  querySelfIntervalMs: 'SEDAI_DHT_QUERY_SELF_INTERVAL_MS',
  initialQuerySelfIntervalMs: 'SEDAI_DHT_INITIAL_QUERY_SELF_INTERVAL_MS',
  providerValidityMs: 'SEDAI_DHT_PROVIDER_VALIDITY_MS',
  reprovideThresholdMs: 'SEDAI_DHT_REPROVIDE_THRESHOLD_MS',
  reprovideIntervalMs: 'SEDAI_DHT_REPROVIDE_INTERVAL_MS',
  providerSettleMinMs: 'SEDAI_DHT_PROVIDER_SETTLE_MIN_MS',
  providerSettleMaxMs: 'SEDAI_DHT_PROVIDER_SETTLE_MAX_MS',
  rpcTimeoutMinMs: 'SEDAI_DHT_RPC_TIMEOUT_MIN_MS',
  localFirstMs: 'SEDAI_DHT_LOCAL_FIRST_MS',
  rpcTimeoutMaxMs: 'SEDAI_DHT_RPC_TIMEOUT_MAX_MS',
  routingTableRefresh: 'SEDAI_DHT_TABLE_REFRESH',
  contactPings: 'SEDAI_DHT_CONTACT_PINGS'
}

/** Knobs for which 0 is a meaningful value (off). */
const ZERO_OK = new Set<string>(['routingTableRefresh', 'contactPings'])

/** DEFAULTS, then `init`, then the environment; a malformed variable is ignored with the default kept. */
export function resolveConfig (init: Partial<DhtConfig> = {}, env: NodeJS.ProcessEnv = process.env): DhtConfig {
  const config = { ...DEFAULTS, ...init } as DhtConfig
  for (const [key, name] of Object.entries(ENV) as Array<[keyof DhtConfig, string]>) {
    const raw = env[name]
    if (raw === undefined || !/^\d+$/.test(raw)) continue
    const n = Number(raw)
    if (Number.isSafeInteger(n) && (n > 0 || ZERO_OK.has(key))) (config as Record<string, unknown>)[key] = n
  }
  return config
}
