import type { KadDHT, QueryEvent } from '@libp2p/kad-dht'
import type { PeerId, PeerInfo } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'

export interface LookupInit {
  /** the caller's deadline, or its "I have what I need" */
  signal?: AbortSignal
  /** stop once this many providers are known */
  maxProviders: number
  /** our own peer id: a record naming us is reported as `self`, not as a provider */
  self: PeerId
  /** each provider other than us the moment it is named, with its hop count (a search asks it at once) */
  onProvider?: (provider: PeerInfo, hops: number) => void
  /**
   * How long to go on collecting once the first provider is known, given how
   * long that took (ms); undefined: until the walk ends (converged, or
   * maxProviders). A get that wants a second source passes one; a search,
   * which uses providers as they come, does not.
   */
  settleMs?: (firstProviderMs: number) => number
  /**
   * Called when our own provider store has answered (it had the key) and
   * before the walk goes out to the network; the walk waits for it.
   * kad-dht's findProviders is a lazy generator that yields the local
   * records first, so waiting here holds the walk back. A search uses it to
   * let the holders our store named answer first: the walk's RPCs would
   * otherwise compete with those asks for the same CPU and connections.
   */
  afterLocal?: () => Promise<void>
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
  /** why it ended: the walk converged, maxProviders, the settle time after the first provider, or the caller's signal */
  ended: 'converged' | 'maxProviders' | 'settled' | 'signal'
}

/**
 * A get's settle time after the first provider: as long again as the first
 * took, within [minMs, maxMs]. A record in our own store (found in ~1 ms)
 * then costs a few ms, a first provider 3 hops away as long as those hops:
 * the parallel paths in flight (alpha) report theirs in about one more round
 * trip. A fixed wait costs the same 300 ms on loopback as across the world.
 */
export function adaptiveSettle (minMs: number, maxMs: number): (firstProviderMs: number) => number {
  return (first) => Math.min(maxMs, Math.max(minMs, first))
}

/**
 * kad-dht's findProviders, watched: it follows the query events to measure
 * the latency to the first provider, the peers queried and the hop count
 * (the depth, in the chain of PEER_RESPONSE closer-peer lists, of the peer
 * that answered with the first provider), and hands each provider on as it
 * is named. kad-dht itself runs until it has k providers or the lookup
 * converges; this also stops at maxProviders, `settleMs` after the first
 * provider, or when the caller's signal says it has what it needs.
 */
export async function findProvidersTracked (dht: Pick<KadDHT, 'findProviders'>, cid: CID, init: LookupInit): Promise<LookupResult> {
  const started = performance.now()
  const inner = new AbortController()
  const signal = init.signal !== undefined ? AbortSignal.any([init.signal, inner.signal]) : inner.signal
  const selfKey = init.self.toString()
  const depth = new Map<string, number>([[selfKey, 0]])
  const answered = new Set<string>()
  const providers = new Map<string, PeerInfo>()
  const result: LookupResult = { providers: [], self: false, queried: 0, durationMs: 0, ended: 'converged' }
  let settle: NodeJS.Timeout | undefined
  const onProviders = (from: PeerId, found: PeerInfo[]): void => {
    for (const p of found) {
      const key = p.id.toString()
      if (key === selfKey) { result.self = true; continue }
      if (providers.has(key) || providers.size >= init.maxProviders) continue
      providers.set(key, p)
      const hops = depth.get(from.toString()) ?? 1
      if (result.firstProviderMs === undefined) {
        result.firstProviderMs = performance.now() - started
        result.hops = hops
        if (init.settleMs !== undefined) {
          settle = setTimeout(() => { result.ended = 'settled'; inner.abort() }, init.settleMs(result.firstProviderMs))
        }
      }
      init.onProvider?.(p, hops)
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
          if (event.from.toString() === selfKey && init.afterLocal !== undefined && !signal.aborted) await init.afterLocal()
          break
        default:
      }
      if (providers.size >= init.maxProviders) { result.ended = 'maxProviders'; break }
      if (signal.aborted) break
    }
  } catch (err) {
    // our own settle timer ends the query; the caller's signal ends it with what was found
    if (!inner.signal.aborted && init.signal?.aborted !== true) throw err
  } finally {
    clearTimeout(settle)
  }
  if (init.signal?.aborted === true && result.ended === 'converged') result.ended = 'signal'
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
