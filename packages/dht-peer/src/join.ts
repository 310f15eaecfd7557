import type { SingleKadDHT } from '@libp2p/kad-dht'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from '@sedai/core'

/** Bootstrap peers that did not answer are redialled after this, doubling up to BOOTSTRAP_RETRY_MAX_MS. */
export const BOOTSTRAP_RETRY_MIN_MS = 250
export const BOOTSTRAP_RETRY_MAX_MS = 5_000
/** One self lookup (the join) must end within this (ms). */
export const JOIN_LOOKUP_TIMEOUT_MS = 10_000
/** A join whose self lookup failed is tried again after this, doubling up to JOIN_RETRY_MAX_MS. */
export const JOIN_RETRY_MIN_MS = 1_000
export const JOIN_RETRY_MAX_MS = 30_000
/** A self lookup that ended with fewer than k peers is repeated after this (ms) to see whether the set still grows. */
export const JOIN_SETTLE_MS = 1_000
/** Dial rounds to the bootstrap peers before a node that has other peers goes on without them. */
export const BOOTSTRAP_ROUNDS_WITH_PEERS = 3

export interface JoinInit {
  dht: Pick<SingleKadDHT, 'routingTable' | 'getClosestPeers'>
  /** dials one bootstrap address */
  dial: (addr: string, signal: AbortSignal) => Promise<unknown>
  bootstrap: string[]
  self: PeerId
  /** Kademlia's k: a self lookup that ends with k peers is a join at once */
  k: number
  /** ends the join (the mode stops) */
  signal: AbortSignal
  log: Logger
  lookupTimeoutMs?: number
  retryMinMs?: number
  settleMs?: number
}

/** Where the join stands, for `sedai stats` and the lab's readiness. */
export interface JoinState {
  /** a self lookup ran to its end and found at least one peer */
  joined: boolean
  /** self lookups started */
  attempts: number
  /** the closest peers the last self lookup ended with (min(k, N - 1) when it converged) */
  closest: number
  /** ms from the start of the mode to the join */
  joinMs?: number
}

/**
 * The Kademlia join (Maymounkov & Mazieres 2002, section 2.3): dial a
 * bootstrap peer, then look up our own id, which fills the buckets near us
 * and puts us in our neighbours' tables.
 *
 * Two ways a node used to take itself for joined while it was not (the lab
 * at N = 64 and 128, issue 20): its self lookup timed out or failed; or two
 * newcomers formed an island: A's routing table got B when B dialled it,
 * A stopped dialling its own bootstrap peers (its table was no longer
 * empty), and both self lookups converged on each other alone, for the whole
 * run. So: the bootstrap peers are dialled until one of them answers (not
 * until anyone is in the table), and a self lookup is a join only when it
 * ran to its end with k peers, or with fewer but the same set as the lookup
 * before it, JOIN_SETTLE_MS earlier (a network smaller than k + 1 has only
 * N - 1 to give). A failed lookup is retried with backoff.
 */
export class Join {
  readonly state: JoinState = { joined: false, attempts: 0, closest: 0 }
  /** resolves when joined, or when the signal ends the join (the upkeep of a small table goes on after it) */
  readonly done: Promise<void>
  private readonly init: JoinInit
  private readonly started = performance.now()
  /** a bootstrap peer answered a dial */
  private bootstrapped = false

  constructor (init: JoinInit) {
    this.init = init
    let resolve = (): void => {}
    this.done = new Promise<void>(r => { resolve = r })
    this.markDone = resolve
    this.run().catch((err: Error) => { init.log.warn({ err: err.message }, 'DHT join stopped') }).finally(() => { this.markDone() })
  }

  private readonly markDone: () => void

  private async run (): Promise<void> {
    const { dht, signal, log } = this.init
    // the default mode of a daemon started bare: say what it waits for instead of sitting silent
    if (dht.routingTable.size === 0 && this.init.bootstrap.length === 0) {
      log.info('no DHT peer yet: waiting for one (--bootstrap ADDR, sedai connect ADDR, a peer that bootstraps through us, or --mdns on a LAN)')
    }
    let retry = this.init.retryMinMs ?? JOIN_RETRY_MIN_MS
    let previous: Set<string> | undefined
    let settle = this.init.settleMs ?? JOIN_SETTLE_MS
    await this.bootstrap()
    while (!signal.aborted) {
      const closest = await this.selfLookup()
      if (signal.aborted) return
      if (closest === undefined || closest.size === 0) {
        log.info({ closest: this.state.closest, routingTable: dht.routingTable.size, attempts: this.state.attempts, retryMs: retry }, 'DHT join failed: trying again')
        previous = undefined
        await sleep(retry, signal)
        retry = Math.min(JOIN_RETRY_MAX_MS, retry * 2)
        // an island of newcomers has no way out but the bootstrap peers
        await this.bootstrap()
        continue
      }
      // a set that stopped growing is all there is, unless no bootstrap peer ever answered: then it may be an island of
      // newcomers that found each other first (the lab at N = 64: two peers whose bootstrap peers were not up yet)
      const settled = previous !== undefined && sameSet(previous, closest) && (this.bootstrapped || this.init.bootstrap.length === 0)
      if (closest.size >= this.init.k || settled) {
        this.state.joined = true
        this.state.joinMs = Math.round(performance.now() - this.started)
        log.info({ closest: this.state.closest, routingTable: dht.routingTable.size, attempts: this.state.attempts, ms: this.state.joinMs }, 'joined the DHT')
        this.markDone()
        await this.maintain()
        return
      }
      // fewer than k: the network is small, or still forming around us; look again and compare
      previous = closest
      await sleep(settle, signal)
      if (!this.bootstrapped && this.init.bootstrap.length > 0) {
        await this.dialBootstrap()
        // bootstrap peers still away: look less often
        if (!this.bootstrapped) settle = Math.min(JOIN_RETRY_MAX_MS, settle * 2)
      }
    }
  }

  /**
   * After the join, while our routing table has fewer than k peers, look up
   * our own id again now and then (1 s doubling to JOIN_RETRY_MAX_MS): a
   * small table may be a network still forming (peers that joined through
   * others after us), and kad-dht's own self lookup may be an hour away (a
   * lab sets it so). Each lookup that finds more grows the table, and the
   * publisher provides our records again on growth.
   */
  private async maintain (): Promise<void> {
    const { dht, signal } = this.init
    let every = this.init.settleMs ?? JOIN_SETTLE_MS
    while (!signal.aborted && dht.routingTable.size < this.init.k) {
      await sleep(every, signal)
      if (signal.aborted) return
      const before = dht.routingTable.size
      await this.selfLookup()
      every = dht.routingTable.size > before ? (this.init.settleMs ?? JOIN_SETTLE_MS) : Math.min(JOIN_RETRY_MAX_MS, every * 2)
    }
  }

  /**
   * Dials the bootstrap peers until one answers (none given: waits until
   * someone is in the routing table), redialling with backoff. A node whose
   * bootstrap peers stay away but that has peers (they dialled it, or mDNS
   * found them) goes on after BOOTSTRAP_ROUNDS_WITH_PEERS rounds, and dials
   * its bootstrap list again between its self lookups.
   */
  private async bootstrap (): Promise<void> {
    const { dht, signal } = this.init
    let delay = BOOTSTRAP_RETRY_MIN_MS
    for (let round = 1; !signal.aborted; round++) {
      if (this.init.bootstrap.length === 0) {
        if (dht.routingTable.size > 0) return
        await sleep(50, signal)
        continue
      }
      await this.dialBootstrap()
      if (this.bootstrapped) {
        // kad-dht adds a peer to its table once identify says it speaks the DHT: wait for that, briefly
        for (let i = 0; i < 40 && dht.routingTable.size === 0 && !signal.aborted; i++) await sleep(50, signal)
        if (dht.routingTable.size > 0) return
      } else if (dht.routingTable.size > 0 && round >= BOOTSTRAP_ROUNDS_WITH_PEERS) {
        return
      }
      await sleep(delay, signal)
      delay = Math.min(BOOTSTRAP_RETRY_MAX_MS, delay * 2)
    }
  }

  /** One round of dials to the bootstrap peers; `bootstrapped` once one answered. Dialling a peer we are connected to costs nothing. */
  private async dialBootstrap (): Promise<void> {
    for (const addr of this.init.bootstrap) {
      try {
        await this.init.dial(addr, AbortSignal.any([this.init.signal, AbortSignal.timeout(5_000)]))
        this.bootstrapped = true
      } catch (err: any) {
        this.init.log.debug({ addr, err: err.message }, 'bootstrap dial failed')
      }
    }
  }

  /** One lookup of our own id: the closest peers it ended with, or undefined when it did not run to its end. */
  private async selfLookup (): Promise<Set<string> | undefined> {
    const { dht, signal } = this.init
    this.state.attempts++
    const found = new Set<string>()
    try {
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.init.lookupTimeoutMs ?? JOIN_LOOKUP_TIMEOUT_MS)])
      for await (const e of dht.getClosestPeers(this.init.self.toMultihash().bytes, { signal: deadline })) {
        if (e.name === 'FINAL_PEER') found.add(e.peer.id.toString())
      }
    } catch (err: any) {
      this.init.log.debug({ err: err.message, found: found.size }, 'self lookup ended early')
      this.state.closest = found.size
      return undefined
    }
    this.state.closest = found.size
    return found
  }
}

function sameSet (a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every(x => b.has(x))
}

/** Waits `ms`, or less when `signal` ends it. */
async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
