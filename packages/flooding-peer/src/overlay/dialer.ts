import { multiaddr } from '@multiformats/multiaddr'
import { BOOTSTRAP_BACKOFF_FACTOR, BOOTSTRAP_FIRST_RETRY_MS, BOOTSTRAP_MAX_RETRY_MS } from '../protocol/constants.ts'
import type { Logger } from '@sedai/core'
import type { Multiaddr } from '@multiformats/multiaddr'

/** How long to wait before retrying a link that failed: grows by a factor per failure, up to a cap. */
export interface BackoffPolicy {
  firstMs: number
  maxMs: number
  factor: number
}

/**
 * The one retry rule of both generations (docs/FLOOD.md, docs/SUPERNODE.md):
 * 250 ms, growing by half up to 5 s. A bootstrap peer that is still starting
 * (a compose lab) is met at most half the time already waited after it comes
 * up (a factor of 2 would allow as much again), for a few more dials before the cap.
 */
export const BOOTSTRAP_BACKOFF: BackoffPolicy = {
  firstMs: BOOTSTRAP_FIRST_RETRY_MS,
  maxMs: BOOTSTRAP_MAX_RETRY_MS,
  factor: BOOTSTRAP_BACKOFF_FACTOR
}

export class Backoff {
  private readonly policy: BackoffPolicy
  private delayMs: number

  constructor (policy: BackoffPolicy = BOOTSTRAP_BACKOFF) {
    this.policy = policy
    this.delayMs = policy.firstMs
  }

  /** The wait after one more failure (ms); the next one will be longer, up to maxMs. */
  next (): number {
    const wait = this.delayMs
    this.delayMs = Math.min(this.delayMs * this.policy.factor, this.policy.maxMs)
    return wait
  }

  reset (): void {
    this.delayMs = this.policy.firstMs
  }
}

export interface BootstrapDialerInit {
  addrs: string[]
  /** links to one bootstrap address; rejects when it fails or is refused */
  connect: (target: Multiaddr) => Promise<unknown>
  log: Logger
  /**
   * 'once': an address that linked is done (flooding: the host cache takes over);
   * 'fallback': it stays, to be asked again whenever the caller has no one better
   * (supernode: a leaf that lost every supernode asks its bootstrap peers again).
   */
  afterLink: 'once' | 'fallback'
  policy?: BackoffPolicy
}

interface BootstrapAddr { addr: string, target?: Multiaddr, done: boolean, busy: boolean, nextAt: number, backoff: Backoff }

/** The bootstrap addresses, each dialled when due and retried with one Backoff rule. */
export class BootstrapDialer {
  private readonly addrs: BootstrapAddr[]
  private readonly init: BootstrapDialerInit

  constructor (init: BootstrapDialerInit) {
    this.init = init
    this.addrs = init.addrs.map(addr => ({ addr, done: false, busy: false, nextAt: 0, backoff: new Backoff(init.policy) }))
  }

  /** Dials every address that is due (`now` on performance.now()'s clock). */
  dialDue (now = performance.now()): void {
    for (const bootstrap of this.addrs) {
      if (bootstrap.done || bootstrap.busy || now < bootstrap.nextAt) continue
      try {
        bootstrap.target ??= multiaddr(bootstrap.addr)
      } catch (err: any) {
        bootstrap.done = true
        this.init.log.warn({ addr: bootstrap.addr, err: err.message }, 'invalid bootstrap address')
        continue
      }
      bootstrap.busy = true
      this.init.connect(bootstrap.target).then(peer => {
        bootstrap.backoff.reset()
        if (this.init.afterLink === 'once') bootstrap.done = true
        else bootstrap.nextAt = performance.now() + bootstrap.backoff.next()
        this.init.log.debug({ addr: bootstrap.addr, peer }, 'bootstrap linked')
      }, err => {
        bootstrap.nextAt = performance.now() + bootstrap.backoff.next()
        this.init.log.debug({ addr: bootstrap.addr, err: err.message }, 'bootstrap link failed or refused; will retry')
      }).finally(() => { bootstrap.busy = false })
    }
  }
}
