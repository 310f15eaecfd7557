import type { DhtConfig } from './config.ts'
import type { Join } from './join.ts'
import type { SingleKadDHT } from '@libp2p/kad-dht'
import type { Logger } from '@sedai/core'
import type { CID } from 'multiformats/cid'

/** Provides wait for the join this long at most: alone, a record is at least in our own store. */
export const JOIN_WAIT_MS = 30_000
/** A record no peer took is provided again after 1 s, doubling up to this (ms). */
export const MAX_RETRY_DELAY_MS = 60_000
/**
 * A record is provided again once our routing table has grown by this factor
 * (and by 2 peers at least) since its last provide: see reprovideOnGrowth.
 */
export const REPROVIDE_GROWTH = 1.5

/** A key we want to be found under: a shared file's CID, or a keyword of its name. */
export interface Wanted {
  cid: CID
  kind: 'file' | 'keyword'
}

interface Provided extends Wanted {
  /** peers that accepted our record in the last provide */
  placed: number
  retryTimer?: NodeJS.Timeout
  attempts: number
  /** queued or running */
  pending: boolean
  /** our routing table's size when it was last provided */
  tableSize: number
}

export interface PublisherInit {
  dht: Pick<SingleKadDHT, 'provide' | 'cancelReprovide' | 'routingTable'>
  config: Pick<DhtConfig, 'provideConcurrency' | 'provideTimeoutMs'>
  log: Logger
  join?: Pick<Join, 'done' | 'state'>
  /** ends every provide (the mode stops) */
  signal: AbortSignal
}

/**
 * Our provider records: every key we want to be found under is provided
 * (a lookup of its k closest peers, then ADD_PROVIDER to each), at most
 * provideConcurrency at once, after the join; a record no peer took is
 * retried with backoff; one we no longer want is no longer re-provided
 * (kad-dht's own reprovider refreshes the rest before they lapse).
 */
export class Publisher {
  private readonly init: PublisherInit
  private readonly provided = new Map<string, Provided>()
  private readonly queue: Array<() => Promise<void>> = []
  private running = 0
  private readonly counts = { provides: 0, provideFailures: 0, recordsPlaced: 0, unprovided: 0, reprovidedOnGrowth: 0 }

  constructor (init: PublisherInit) {
    this.init = init
  }

  /** Makes what we provide match `want` (keyed by CID string): new keys are provided, dropped ones no longer re-provided. */
  sync (want: Map<string, Wanted>): void {
    for (const [key, w] of want) {
      if (this.provided.has(key)) continue
      const entry: Provided = { cid: w.cid, kind: w.kind, placed: 0, attempts: 0, pending: false, tableSize: 0 }
      this.provided.set(key, entry)
      this.enqueue(key, entry)
    }
    for (const [key, entry] of this.provided) {
      if (want.has(key)) continue
      // unshared: stop re-providing; records already placed on other peers lapse after providerValidityMs
      clearTimeout(entry.retryTimer)
      this.provided.delete(key)
      this.counts.unprovided++
      this.init.dht.cancelReprovide(entry.cid).catch((err: any) => { this.init.log.debug({ cid: key, err: err.message }, 'cancelReprovide failed') })
    }
  }

  stop (): void {
    for (const p of this.provided.values()) clearTimeout(p.retryTimer)
    this.queue.length = 0
  }

  /**
   * Kademlia (Maymounkov & Mazieres 2002, section 2.5): a node that learns of
   * a new node stores on it the pairs it is now among the k closest to.
   * kad-dht does not, so records placed while the network was still joining
   * (a lab starting, a node coming back) stay on nodes that are no longer the
   * k closest to their key, and lookups that converge on the new closest
   * ones miss them. For our own records we do the next best thing: once our
   * routing table has grown by half since a record was provided, we provide
   * it again, to the k closest as they are now. Geometric, so it stops when
   * the network stops growing. Called on a timer.
   */
  reprovideOnGrowth (): void {
    if (this.init.join?.state.joined !== true) return
    const size = this.init.dht.routingTable.size
    for (const [key, entry] of this.provided) {
      if (entry.pending || entry.placed === 0) continue
      if (size < Math.max(entry.tableSize + 2, entry.tableSize * REPROVIDE_GROWTH)) continue
      this.counts.reprovidedOnGrowth++
      this.enqueue(key, entry)
    }
  }

  stats (): { providing: Record<string, number>, provides: Record<string, number> } {
    let files = 0
    let keywords = 0
    let unplaced = 0
    for (const p of this.provided.values()) {
      if (p.kind === 'file') files++; else keywords++
      if (p.placed === 0) unplaced++
    }
    return {
      providing: { files, keywords, notYetPlaced: unplaced, queued: this.queue.length + this.running },
      provides: { ...this.counts }
    }
  }

  private enqueue (key: string, entry: Provided): void {
    entry.pending = true
    this.queue.push(async () => { await this.provide(key, entry).finally(() => { entry.pending = false }) })
    this.pump()
  }

  private pump (): void {
    while (this.running < this.init.config.provideConcurrency && this.queue.length > 0) {
      const job = this.queue.shift() as () => Promise<void>
      this.running++
      job().catch(() => {}).finally(() => { this.running--; this.pump() })
    }
  }

  /** One provide: a lookup of the key's k closest peers, then ADD_PROVIDER to each. Retried with backoff while no peer took the record. */
  private async provide (key: string, entry: Provided): Promise<void> {
    const { dht, signal: stopped, log } = this.init
    // provides wait for the join, but not forever: alone, a record is at least in our own store
    await Promise.race([this.init.join?.done, new Promise(resolve => setTimeout(resolve, JOIN_WAIT_MS).unref())])
    if (this.provided.get(key) !== entry || stopped.aborted) return
    const signal = AbortSignal.any([stopped, AbortSignal.timeout(this.init.config.provideTimeoutMs)])
    let placed = 0
    entry.attempts++
    entry.tableSize = dht.routingTable.size
    try {
      for await (const e of dht.provide(entry.cid, { signal })) {
        if (e.name === 'PEER_RESPONSE' && e.messageName === 'ADD_PROVIDER') placed++
      }
      this.counts.provides++
    } catch (err: any) {
      this.counts.provideFailures++
      log.debug({ cid: key, err: err.message }, 'provide failed')
    }
    entry.placed = placed
    this.counts.recordsPlaced += placed
    log.debug({ cid: key, kind: entry.kind, placed }, 'provided')
    if (placed === 0 && this.provided.get(key) === entry && !stopped.aborted) {
      const delay = Math.min(MAX_RETRY_DELAY_MS, 1000 * 2 ** Math.min(entry.attempts - 1, 6))
      entry.retryTimer = setTimeout(() => { this.enqueue(key, entry) }, delay)
      entry.retryTimer.unref()
    }
  }
}
