import { CID } from 'multiformats/cid'
import { parseCid } from '@sedai/core'
import { keywords, matches } from './keywords.ts'
import type { LookupResult } from './lookup.ts'
import type { ResultFile } from './protocol/messages.ts'
import type { PeerInfo } from '@libp2p/interface'
import type { SearchHit } from '@sedai/core'

export interface KeywordSearchInit {
  /** the query's keywords (keywords.ts), at least one */
  keywords: string[]
  /** the caller's deadline */
  signal: AbortSignal
  /** most holders asked in one search */
  maxPeers: number
  /** holders asked at once */
  concurrency: number
  /**
   * a provider lookup of one keyword's key, handing each provider on as it is
   * named, and calling `afterLocal` (awaited) once our own store has answered,
   * before it walks the network
   */
  lookup: (keyword: string, onProvider: (provider: PeerInfo) => void, afterLocal: () => Promise<void>) => Promise<LookupResult>
  /** the longest a walk waits for the holders our own store named to answer (ms) */
  localFirstMs: number
  /** a KEYWORD QUERY to one holder: its files matching every keyword */
  ask: (peer: PeerInfo, keywords: string[]) => Promise<ResultFile[]>
  /** our own files matching every keyword, with how we are reached */
  local: () => { peerId: string, addrs: string[], files: ResultFile[] }
  onHit?: (hit: SearchHit) => void
  onAskFailed?: (peer: PeerInfo, err: Error) => void
}

export interface KeywordSearchResult {
  hits: SearchHit[]
  /** holders asked */
  asked: number
  /** the keyword lookups, in keyword order (a failed one is undefined) */
  lookups: Array<LookupResult | undefined>
}

/**
 * A streamed keyword search (docs/DHT.md "Search"): every keyword's lookup
 * runs at once, and a peer is asked for its matching files the moment any
 * lookup names it, not when the lookups are done; its answers stream to
 * `onHit` as they come. The AND of the keywords is matched by the holder,
 * which knows its whole file names, and checked again here against the names
 * it sent (a holder's idea of a match is never trusted). It ends when the
 * lookups have ended and every asked holder has answered or failed, or at the
 * caller's deadline with what it has.
 */
export async function keywordSearch (init: KeywordSearchInit): Promise<KeywordSearchResult> {
  const { signal } = init
  const hits = new Map<string, SearchHit>()
  const add = (peerId: string, addrs: string[], f: ResultFile): void => {
    // past the deadline the caller has its answer: a late one is not added to it
    if (signal.aborted) return
    let cid: string
    try {
      cid = parseCid(CID.decode(f.cid).toString()).toString()
    } catch {
      return
    }
    if (!matches(keywords(f.name), init.keywords)) return
    const hit = hits.get(cid) ?? { cid, name: f.name, size: f.size, providers: [] }
    if (hit.providers.some(p => p.peerId === peerId)) return
    hit.providers.push({ peerId, addrs })
    hits.set(cid, hit)
    init.onHit?.({ ...hit, providers: [{ peerId, addrs }] })
  }
  const own = init.local()
  for (const f of own.files) add(own.peerId, own.addrs, f)

  const asked = new Set<string>()
  const waiting: PeerInfo[] = []
  let running = 0
  // whoever waits for the asks to drain (the walks' afterLocal, the end of the search) is woken at each change
  const waiters = new Set<() => void>()
  const wake = (): void => {
    for (const resolve of waiters) resolve()
    waiters.clear()
  }
  const busy = (): boolean => (running > 0 || waiting.length > 0) && !signal.aborted
  /** Resolves at the next change of the asks, or after `ms`. */
  const change = async (ms: number): Promise<void> => {
    await new Promise<void>(resolve => {
      const timer = setTimeout(resolve, ms)
      waiters.add(() => { clearTimeout(timer); resolve() })
    })
  }
  const pump = (): void => {
    while (running < init.concurrency && waiting.length > 0 && !signal.aborted) {
      const peer = waiting.shift() as PeerInfo
      running++
      init.ask(peer, init.keywords).then(files => {
        for (const f of files) add(peer.id.toString(), peer.multiaddrs.map(String), f)
      }, (err: Error) => { init.onAskFailed?.(peer, err) }).finally(() => {
        running--
        pump()
        wake()
      })
    }
  }
  const onProvider = (provider: PeerInfo): void => {
    const key = provider.id.toString()
    if (asked.has(key) || asked.size >= init.maxPeers || signal.aborted) return
    asked.add(key)
    waiting.push(provider)
    pump()
  }
  // our own store named holders: let them answer before the walk's RPCs compete with them (at most localFirstMs)
  const afterLocal = async (): Promise<void> => {
    const until = performance.now() + init.localFirstMs
    while (busy() && performance.now() < until) await change(until - performance.now())
  }
  signal.addEventListener('abort', wake, { once: true })
  let settled: Array<PromiseSettledResult<LookupResult>>
  try {
    settled = await Promise.allSettled(init.keywords.map(async kw => await init.lookup(kw, onProvider, afterLocal)))
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed !== undefined && settled.every(s => s.status === 'rejected') && !signal.aborted) throw failed.reason
    // the longest ask ends at its own deadline (QUERY_TIMEOUT_MS); the timer only bounds one wait
    while (busy()) await change(60_000)
  } finally {
    signal.removeEventListener('abort', wake)
    wake()
  }
  return {
    hits: [...hits.values()],
    asked: asked.size,
    lookups: settled.map(s => s.status === 'fulfilled' ? s.value : undefined)
  }
}
