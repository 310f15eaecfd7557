import type { KadDHT, QueryEvent } from '@libp2p/kad-dht'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface LookupInit {
  /** the caller's deadline */
  signal?: AbortSignal
  /** once a provider is found, wait at most this long for more (ms) */
  graceMs: number
  /** stop once this many providers are known */
  maxProviders: number
  /** our own peer id: a record naming us is reported as `self`, not as a provider */
  self: PeerId
}

export interface LookupResult {
  /** providers other than us, first found first */
  providers: PeerInfo[]
  /** we hold a provider record naming ourselves */
  self: boolean
  /** ms from the start to the first provider (undefined: none found) */
  firstProviderMs?: number
  /**
   * hops to the first provider: 0 = our own provider store had the record,
   * 1 = a peer from our routing table answered with it, n = the answering
   * peer was learned from a peer at n - 1 (the chain of closer-peer replies)
   */
  hops?: number
  /** distinct peers that answered a GET_PROVIDERS request */
  queried: number
  /** ms the lookup ran */
  durationMs: number
}

/**
 * kad-dht's findProviders, watched: it follows the query events to measure
 * the latency to the first provider, the peers queried and the hop count
 * (the depth, in the chain of PEER_RESPONSE closer-peer lists, of the peer
 * that answered with the first provider). kad-dht itself runs until it has
 * k providers or the lookup converges; this stops `graceMs` after the first
 * provider, enough for the parallel paths in flight to report theirs.
 */
export async function findProvidersTracked (dht: Pick<KadDHT, 'findProviders'>, cid: CID, init: LookupInit): Promise<LookupResult> {
  const started = performance.now()
  const inner = new AbortController()
  const signal = init.signal !== undefined ? AbortSignal.any([init.signal, inner.signal]) : inner.signal
  const selfKey = init.self.toString()
  const depth = new Map<string, number>([[selfKey, 0]])
  const answered = new Set<string>()
  const providers = new Map<string, PeerInfo>()
  const result: LookupResult = { providers: [], self: false, queried: 0, durationMs: 0 }
  let grace: NodeJS.Timeout | undefined
  const onProviders = (from: PeerId, found: PeerInfo[]): void => {
    for (const p of found) {
      const key = p.id.toString()
      if (key === selfKey) { result.self = true; continue }
      if (providers.has(key)) continue
      providers.set(key, p)
      if (result.firstProviderMs === undefined) {
        result.firstProviderMs = performance.now() - started
        result.hops = depth.get(from.toString()) ?? 1
        grace = setTimeout(() => { inner.abort() }, init.graceMs)
      }
    }
  }
  try {
    for await (const event of dht.findProviders(cid, { signal }) as AsyncIterable<QueryEvent>) {
      switch (event.name) {
        case 'SEND_QUERY':
          if (!depth.has(event.to.toString())) depth.set(event.to.toString(), 1)
          break
        case 'PEER_RESPONSE': {
          const from = event.from.toString()
          if (from !== selfKey) answered.add(from)
          const d = (depth.get(from) ?? 1) + 1
          for (const c of event.closer) if (!depth.has(c.id.toString())) depth.set(c.id.toString(), d)
          break
        }
        case 'PROVIDER':
          onProviders(event.from, event.providers)
          break
        default:
      }
      if (providers.size >= init.maxProviders) break
    }
  } catch (err) {
    // our own grace timer ends the query; the caller's deadline ends it with what was found
    if (!inner.signal.aborted && init.signal?.aborted !== true) throw err
  } finally {
    clearTimeout(grace)
  }
  result.providers = [...providers.values()]
  result.queried = answered.size
  result.durationMs = performance.now() - started
  return result
}

/** Nearest-rank percentile of unsorted samples; undefined when there are none. */
export function percentile (samples: number[], p: number): number | undefined {
  if (samples.length === 0) return undefined
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}
