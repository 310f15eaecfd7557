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

export interface JoinInit {
  dht: Pick<SingleKadDHT, 'routingTable' | 'getClosestPeers'>
  /** dials one bootstrap address */
  dial: (addr: string, signal: AbortSignal) => Promise<unknown>
  bootstrap: string[]
  self: PeerId
  /** ends the join (the mode stops) */
  signal: AbortSignal
  log: Logger
  lookupTimeoutMs?: number
  retryMinMs?: number
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
 * The Kademlia join (Maymounkov & Mazieres 2002, section 2.3): once a first
 * peer is in the routing table (the daemon dials the bootstrap peers once;
 * those not up yet are redialled here, with backoff), look up our own id,
 * which fills the buckets near us and puts us in our neighbours' tables.
 * A self lookup that times out, fails or ends with nobody is not a join: it
 * is tried again with backoff (a node that counted one such as joined sat
 * with one connected peer and answered searches with nothing). Converged,
 * the lookup has the min(k, N - 1) closest peers that answer.
 */
export class Join {
  readonly state: JoinState = { joined: false, attempts: 0, closest: 0 }
  /** resolves when joined, or when the signal ends the join */
  readonly done: Promise<void>
  private readonly init: JoinInit
  private readonly started = performance.now()

  constructor (init: JoinInit) {
    this.init = init
    this.done = this.run()
  }

  private async run (): Promise<void> {
    const { dht, signal, log } = this.init
    // the default mode of a daemon started bare: say what it waits for instead of sitting silent
    if (dht.routingTable.size === 0 && this.init.bootstrap.length === 0) {
      log.info('no DHT peer yet: waiting for one (--bootstrap ADDR, sedai connect ADDR, a peer that bootstraps through us, or --mdns on a LAN)')
    }
    let retry = this.init.retryMinMs ?? JOIN_RETRY_MIN_MS
    while (!signal.aborted) {
      await this.untilFirstPeer()
      if (signal.aborted) return
      if (await this.selfLookup()) {
        this.state.joined = true
        this.state.joinMs = Math.round(performance.now() - this.started)
        log.info({ closest: this.state.closest, routingTable: dht.routingTable.size, attempts: this.state.attempts, ms: this.state.joinMs }, 'joined the DHT')
        return
      }
      log.info({ closest: this.state.closest, routingTable: dht.routingTable.size, attempts: this.state.attempts, retryMs: retry }, 'DHT join failed: trying again')
      await sleep(retry, signal)
      retry = Math.min(JOIN_RETRY_MAX_MS, retry * 2)
    }
  }

  /** Waits until the routing table has a peer, redialling the bootstrap peers with backoff. */
  private async untilFirstPeer (): Promise<void> {
    const { dht, signal } = this.init
    let delay = BOOTSTRAP_RETRY_MIN_MS
    let nextDial = Date.now() + delay
    while (dht.routingTable.size === 0 && !signal.aborted) {
      await sleep(50, signal)
      if (Date.now() < nextDial || this.init.bootstrap.length === 0) continue
      for (const addr of this.init.bootstrap) {
        await this.init.dial(addr, AbortSignal.any([signal, AbortSignal.timeout(5_000)])).catch((err: Error) => {
          this.init.log.debug({ addr, err: err.message }, 'bootstrap retry failed')
        })
      }
      delay = Math.min(BOOTSTRAP_RETRY_MAX_MS, delay * 2)
      nextDial = Date.now() + delay
    }
  }

  /** One lookup of our own id; true when it ran to its end and found someone. */
  private async selfLookup (): Promise<boolean> {
    const { dht, signal } = this.init
    this.state.attempts++
    let found = 0
    try {
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.init.lookupTimeoutMs ?? JOIN_LOOKUP_TIMEOUT_MS)])
      for await (const e of dht.getClosestPeers(this.init.self.toMultihash().bytes, { signal: deadline })) {
        if (e.name === 'FINAL_PEER') found++
      }
    } catch (err: any) {
      this.init.log.debug({ err: err.message, found }, 'self lookup ended early')
      this.state.closest = found
      return false
    }
    this.state.closest = found
    return found > 0
  }
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
