/**
 * Prometheus metrics of one daemon, served as `GET /metrics` on its control
 * API (docs/METRICS.md lists them all).
 *
 * Nearly everything is read at scrape time from what the daemon already
 * counts for `sedai stats` (its Stats counters and the modes' state), so
 * nothing is counted twice, the two views cannot disagree, and a daemon pays
 * nothing between scrapes. Only distributions are observed as they happen:
 * search latency (daemon.ts) and DHT lookup latency (dht-peer), through
 * Stats.observe into real histograms.
 *
 * Each daemon gets its own Registry, never prom-client's global one: the lab
 * and the tests run many daemons in one process. The process's own metrics
 * (CPU, memory, event loop, GC) describe the process, not a daemon, so they
 * live in one process-wide registry, created on the first scrape and merged
 * into every daemon's answer.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Stats } from '@sedai/core'
import type { MetricsText } from './daemon-api.ts'

export const METRICS_DEFAULTS = {
  /** every metric name starts with this, the process metrics' too */
  prefix: 'sedai_',
  /**
   * `sedai_search_duration_seconds` buckets (s): from a directory answer on
   * loopback (ms) to a flood that waits out its deadline (DEFAULTS.searchTimeoutMs
   * 5 s; callers may pass longer)
   */
  searchBuckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  /** `sedai_dht_lookup_duration_seconds` and `sedai_dht_first_provider_seconds` buckets (s) */
  lookupBuckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
} as const

/** What the metrics read; the Daemon provides it. */
export interface MetricsSource {
  /** the modes the daemon runs: only their metrics are registered */
  modes: readonly string[]
  /** the daemon's counters, read at scrape time; their observe() feeds the histograms */
  counters: Stats
  /** the daemon's state as `sedai stats` prints it; called once per scrape */
  stats: () => Promise<Record<string, unknown>>
}

export interface DaemonMetrics {
  /** one scrape: this daemon's metrics and the process's */
  render: () => Promise<MetricsText>
  /** stops observing the counters; idempotent */
  close: () => void
}

type Labels = Record<string, string>
/** the samples of one metric: label set and value */
type Rows = Array<[Labels, number]>

/** Transfer bytes by direction and source: which counters make up each series (summed). */
const TRANSFER_BYTES: Array<{ direction: string, source: string, keys: string[] }> = [
  // fetched with /sedai/transfer and verified (core download.ts)
  { direction: 'in', source: 'direct', keys: ['transfer.bytesFetched'] },
  // fetched along the overlay path and verified (daemon.ts counts what the in-band download reports)
  { direction: 'in', source: 'in_band', keys: ['transfer.inBandBytesFetched'] },
  { direction: 'out', source: 'direct', keys: ['transfer.bytesServed'] },
  // the supernode generation's origin (a leaf serving its own file along the path)
  { direction: 'out', source: 'in_band', keys: ['supernode.bytesServedOrigin'] },
  { direction: 'out', source: 'cache', keys: ['supernode.bytesServedCache'] },
  // bytes passed on for others (a hop of an in-band transfer)
  { direction: 'out', source: 'relay', keys: ['supernode.bytesRelayed', 'flood.relayBytesForwarded'] }
]

const TRANSFER_CHUNKS: Array<{ direction: string, source: string, keys: string[] }> = [
  { direction: 'in', source: 'direct', keys: ['transfer.chunksFetched'] },
  { direction: 'in', source: 'in_band', keys: ['transfer.inBandChunksFetched'] },
  { direction: 'out', source: 'direct', keys: ['transfer.chunksServed'] }
]

/** Modes whose events are Stats counters under the mode's name ('flood.queriesForwarded'). */
const COUNTED_MODES = ['flood', 'supernode']

/** Modes whose events are counters in the mode's own stats (the names listed; nested groups flattened). */
const SNAPSHOT_EVENTS: Record<string, string[]> = {
  'directory-server': ['searches', 'searchCacheHits', 'lookups', 'browses', 'registers', 'filesRegistered', 'unregisters', 'resumedSessions',
    'fullRegistrations', 'rateLimited', 'invalidMessages', 'refused', 'expiredPeers', 'evictedStates', 'refusedSessions', 'replies', 'replyWrites'],
  directory: ['connects', 'reconnects', 'fullSyncs', 'resumed', 'incrementalSyncs', 'heartbeats', 'searches', 'lookups'],
  dht: ['lookups.lookups', 'lookups.found', 'lookups.notFound', 'lookups.failed', 'lookups.localHits', 'lookups.queriedTotal', 'lookups.hopsTotal',
    'provides.provides', 'provides.provideFailures', 'provides.recordsPlaced', 'provides.unprovided',
    'search.searches', 'search.keywordQueriesSent', 'search.keywordQueryFailures', 'search.keywordQueriesServed']
}

// one per process, however many daemons share it
let processRegistry: Registry | undefined

function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry, prefix: METRICS_DEFAULTS.prefix })
    // prom-client's nodejs_active_{handles,requests,resources}_total are gauges named like counters; the
    // same figures stay available, by type, in the gauges without the suffix
    for (const m of processRegistry.getMetricsAsArray()) {
      if (String(m.type) === 'gauge' && m.name.endsWith('_total')) processRegistry.removeSingleMetric(m.name)
    }
  }
  return processRegistry
}

/** Builds one daemon's registry. Call close() when the daemon stops. */
export function createDaemonMetrics (source: MetricsSource): DaemonMetrics {
  const { counters } = source
  const registry = new Registry()
  const prefix = METRICS_DEFAULTS.prefix
  const modes = new Set(source.modes)
  // the daemon's state for the scrape in progress; scrapes run one at a time so each reads its own
  let snap: Record<string, unknown> = {}
  let queue: Promise<unknown> = Promise.resolve()

  const count = (key: string): number => counters.get(key)
  const sum = (keys: string[]): number => keys.reduce((n, k) => n + count(k), 0)
  const value = (...path: string[]): number | undefined => {
    let v: unknown = snap
    for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[p] : undefined
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined
  }
  const one = (v: number | undefined): Rows => v === undefined ? [] : [[{}, v]]

  const counter = (name: string, help: string, labelNames: string[], read: () => Rows): void => {
    registry.registerMetric(new Counter({
      name: prefix + name,
      help,
      labelNames,
      registers: [],
      collect (this: Counter) {
        this.reset()
        // a negative figure would make prom-client throw and fail the whole scrape
        for (const [labels, v] of read()) if (v >= 0) this.inc(labels, v)
      }
    }))
  }
  const gauge = (name: string, help: string, labelNames: string[], read: () => Rows): void => {
    registry.registerMetric(new Gauge({
      name: prefix + name,
      help,
      labelNames,
      registers: [],
      collect (this: Gauge) {
        this.reset()
        for (const [labels, v] of read()) this.set(labels, v)
      }
    }))
  }
  // Stats.observe name -> the histogram it feeds
  const histograms = new Map<string, { histogram: Histogram, labelNames: string[] }>()
  const histogram = (observed: string, name: string, help: string, labelNames: string[], buckets: readonly number[]): void => {
    histograms.set(observed, { histogram: new Histogram({ name: prefix + name, help, labelNames, buckets: [...buckets], registers: [registry] }), labelNames })
  }

  // the daemon
  gauge('info', 'Always 1; the labels name the daemon and its modes.', ['peer_id', 'modes'], () => [[{
    peer_id: typeof snap.peerId === 'string' ? snap.peerId : '',
    modes: [...modes].join(',')
  }, 1]])
  gauge('uptime_seconds', 'Seconds since the daemon started.', [], () => one(value('uptimeSeconds')))
  gauge('connections', 'Open libp2p connections.', [], () => one(value('connections')))
  gauge('streams', 'Open streams over all connections.', [], () => one(value('streams')))
  gauge('shared_files', 'Files this daemon shares (downloads included).', [], () => one(value('shared')))
  gauge('partial_downloads', 'Unfinished downloads on disk (resumable).', [], () => one(value('partialDownloads')))
  gauge('active_downloads', 'Downloads (sedai get) running now.', [], () => one(value('activeDownloads')))
  counter('downloads_total', 'Downloads (sedai get) finished, by outcome.', ['outcome'], () => [
    [{ outcome: 'completed' }, count('downloads.completed')],
    [{ outcome: 'failed' }, count('downloads.failed')]
  ])

  // transfer
  counter('transfer_bytes_total', 'Verified file bytes moved, by direction (in: fetched, out: served) and source (direct, in_band, cache, relay).',
    ['direction', 'source'], () => TRANSFER_BYTES.map(t => [{ direction: t.direction, source: t.source }, sum(t.keys)]))
  counter('transfer_chunks_total', 'Verified chunks moved, by direction and source (direct, in_band).',
    ['direction', 'source'], () => TRANSFER_CHUNKS.map(t => [{ direction: t.direction, source: t.source }, sum(t.keys)]))
  counter('transfer_chunks_rejected_total', 'Fetched chunks that failed verification (the peer was dropped).', [], () => one(count('transfer.chunksRejected')))
  counter('transfer_wasted_bytes_total', 'Bytes of fetched chunks thrown away (failed verification).', [], () => one(count('transfer.bytesWasted')))
  counter('transfer_chunks_corrupted_total', 'Served chunks corrupted on purpose (--fault-corrupt, tests and labs only).', [], () => one(count('transfer.chunksCorruptedOnPurpose')))

  // messages: 'messages.PROTOCOL.DIRECTION.TYPE' and 'bytes.PROTOCOL.DIRECTION.TYPE'
  const messages = (kind: string): Rows => {
    const rows: Rows = []
    for (const [key, v] of counters.entries()) {
      const parts = key.split('.')
      if (parts.length === 4 && parts[0] === kind) rows.push([{ protocol: parts[1], direction: parts[2], type: parts[3] }, v])
    }
    return rows
  }
  counter('messages_total', 'Protocol messages, by protocol, direction (in, out) and message type.', ['protocol', 'direction', 'type'], () => messages('messages'))
  counter('message_bytes_total', 'Bytes of protocol messages on the wire (framing excluded), by protocol, direction and type.',
    ['protocol', 'direction', 'type'], () => messages('bytes'))

  // search
  histogram('search.seconds', 'search_duration_seconds', 'Time a search mode took to answer a search, by mode and outcome (hits, empty, error).',
    ['mode', 'outcome'], METRICS_DEFAULTS.searchBuckets)

  // what the modes count, one series per event
  counter('mode_events_total', 'Events the modes count (as `sedai stats` shows them), by mode and event name.', ['mode', 'event'], () => {
    const rows: Rows = []
    for (const [key, v] of counters.entries()) {
      const dot = key.indexOf('.')
      const mode = key.slice(0, dot)
      const event = key.slice(dot + 1)
      // byte counts are in sedai_transfer_bytes_total; mixing units in one metric would make its sum meaningless
      if (COUNTED_MODES.includes(mode) && modes.has(mode) && !/bytes/i.test(event)) rows.push([{ mode, event }, v])
    }
    for (const [mode, events] of Object.entries(SNAPSHOT_EVENTS)) {
      if (!modes.has(mode)) continue
      for (const path of events) {
        const v = value(mode, ...path.split('.'))
        if (v !== undefined) rows.push([{ mode, event: path.split('.').at(-1) as string }, v])
      }
    }
    return rows
  })

  if (modes.has('supernode')) {
    gauge('supernode_role', 'The node\'s role in the supernode overlay: 1 for the current one.', ['role'], () => {
      const role = (snap.supernode as Record<string, unknown> | undefined)?.role
      return ['super', 'leaf'].map(r => [{ role: r }, role === r ? 1 : 0])
    })
    gauge('supernode_leaves', 'Leaves attached to this supernode.', [], () => one(value('supernode', 'leaves')))
    gauge('supernode_known_supernodes', 'Supernodes this node knows of (recently heard from).', [], () => one(value('supernode', 'knownSupernodes')))
    gauge('cache_bytes', 'Bytes held in the supernode cache.', [], () => one(value('supernode', 'cache', 'bytes')))
    gauge('cache_max_bytes', 'The supernode cache\'s capacity in bytes.', [], () => one(value('supernode', 'cache', 'maxBytes')))
    gauge('cache_entries', 'Chunks held in the supernode cache.', [], () => one(value('supernode', 'cache', 'entries')))
    gauge('cache_files', 'Files with at least one chunk in the supernode cache.', [], () => one(value('supernode', 'cache', 'files')))
    counter('cache_hits_total', 'Chunks relayed from the supernode cache, once per chunk and requester.', [], () => one(count('supernode.cacheHits')))
    counter('cache_misses_total', 'Chunks the supernode fetched from the origin to relay (not cached yet), once per chunk and requester.', [], () => one(count('supernode.cacheMisses')))
    counter('cache_evictions_total', 'Chunks evicted from the cache to make room.', [], () => one(value('supernode', 'cache', 'evictions')))
    gauge('cache_hit_ratio', 'Cache hits / (hits + misses) since the daemon started; 0 before the first. Prefer a rate() of the two counters.', [], () => {
      const hits = count('supernode.cacheHits')
      const misses = count('supernode.cacheMisses')
      return one(hits + misses === 0 ? 0 : hits / (hits + misses))
    })
  }

  if (modes.has('flood')) {
    gauge('flood_neighbours', 'Flooding neighbours connected now.', [], () => one(value('flood', 'neighbourCount')))
    gauge('flood_host_cache_peers', 'Peers in the host cache (candidates for new neighbours).', [], () => one(value('flood', 'hostCache')))
  }

  if (modes.has('dht')) {
    gauge('dht_routing_table_size', 'Peers in the Kademlia routing table.', [], () => one(value('dht', 'routingTableSize')))
    gauge('dht_provider_records', 'Provider records this node stores, by kind (own: this node provides; others).', ['kind'], () => {
      const rows: Rows = []
      for (const [kind, key] of [['own', 'own'], ['others', 'forOthers']]) {
        const v = value('dht', 'records', key)
        if (v !== undefined) rows.push([{ kind }, v])
      }
      return rows
    })
    histogram('dht.lookupSeconds', 'dht_lookup_duration_seconds', 'Provider lookups (findProviders) from start to end, by outcome (found, not_found, self, failed).',
      ['outcome'], METRICS_DEFAULTS.lookupBuckets)
    histogram('dht.firstProviderSeconds', 'dht_first_provider_seconds', 'Provider lookups that found one: time to the first provider.', [], METRICS_DEFAULTS.lookupBuckets)
  }

  if (modes.has('directory-server')) {
    gauge('directory_server_peers_online', 'Peers with an open session.', [], () => one(value('directory-server', 'peersOnline')))
    gauge('directory_server_peers_known', 'Peers in the index.', [], () => one(value('directory-server', 'peersKnown')))
    gauge('directory_server_files_indexed', 'Files in the index.', [], () => one(value('directory-server', 'filesIndexed')))
    // the server keeps a ring of recent latencies, not a histogram: these are its quantiles, not a Summary's
    gauge('directory_server_recent_search_seconds', 'Search handling time over the server\'s recent searches (a window of latencyWindow), by quantile (0.5, 0.99, 1 = max).',
      ['quantile'], () => {
        const rows: Rows = []
        for (const [quantile, key] of [['0.5', 'p50'], ['0.99', 'p99'], ['1', 'max']]) {
          const ms = value('directory-server', 'searchLatencyMs', key)
          if (ms !== undefined) rows.push([{ quantile }, ms / 1000])
        }
        return rows
      })
  }

  if (modes.has('directory')) {
    gauge('directory_online', '1 while the session with the directory server is up.', [], () => {
      const state = (snap.directory as Record<string, unknown> | undefined)?.state
      return one(state === 'online' ? 1 : 0)
    })
    gauge('directory_registered_files', 'Files registered with the directory server.', [], () => one(value('directory', 'registeredFiles')))
  }

  const stopObserving = counters.onObserve((name, v, labels) => {
    const h = histograms.get(name)
    if (h === undefined || !Number.isFinite(v) || v < 0) return
    // only the histogram's own labels: prom-client throws on others, and the caller is a lookup, not a metrics client
    const own: Labels = {}
    for (const l of h.labelNames) if (labels[l] !== undefined) own[l] = labels[l]
    h.histogram.observe(own, v)
  })

  const render = async (): Promise<MetricsText> => {
    const run = queue.then(async () => {
      snap = await source.stats()
      const text = await Registry.merge([registry, processMetrics()]).metrics()
      snap = {}
      return { contentType: registry.contentType, text }
    })
    queue = run.catch(() => {})
    return await run
  }

  return {
    render,
    close: () => { stopObserving() }
  }
}
