import { count } from '@sedai/flooding-peer'
import { capacityScore, leafCapacity, localCapacity } from './capacity.ts'
import { elect } from './election.ts'
import { measureUpload } from './protocol/probe.ts'
import type { SupernodeConfig } from './config.ts'
import type { RoleName } from './election.ts'
import type { ProbeComponents } from './protocol/probe.ts'
import type { SuperEntry } from './protocol/messages.ts'
import type { OverlayContext } from '@sedai/flooding-peer'
import type { RateLimiter } from '@sedai/core'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'

/** What the role needs of a libp2p node: peers to probe against, and whether we are dialable. */
export interface RoleComponents extends ProbeComponents {
  getPeers: () => PeerId[]
  getMultiaddrs: () => Multiaddr[]
}

export interface RoleInit {
  components: RoleComponents
  config: SupernodeConfig
  ctx: OverlayContext
  /** `--role`: auto elects by capacity; super and leaf are fixed */
  mode: 'auto' | RoleName
  /** the daemon's upload cap (bytes/s, 0 = none): it caps the score's bandwidth */
  uploadRate: number
  /** the upload limiter the probe's bytes go through, so it measures what uploads will get */
  limiter?: RateLimiter
  /** what the election weighs besides our score: the supernodes we know, our leaves now */
  view: () => { supers: SuperEntry[], leaves: number }
  /** the role changed: every link is to be dropped and rebuilt for it */
  onChange: (role: RoleName) => void
}

/**
 * Which role this node plays and why: its capacity (the bandwidth probe and
 * the local inputs of capacity.ts), scored and weighed against the known
 * supernodes by election.ts at every tick (fixed with `--role super|leaf`).
 */
export class RoleElection {
  readonly mode: 'auto' | RoleName
  private readonly init: RoleInit
  private readonly startedAt = Date.now()
  private current: RoleName
  private since = performance.now()
  private leaflessSince?: number = performance.now()
  /** the best upload measured (bytes/s); undefined until a probe succeeded */
  private bandwidth?: number
  private probing = false
  private probedAt = -Infinity
  /** the next probe is due this long after the last (doubling from 2 s up to probeIntervalMs) */
  private probeEveryMs = 2_000
  private lastReason = ''

  constructor (init: RoleInit) {
    this.init = init
    this.mode = init.mode
    this.current = init.mode === 'super' ? 'super' : 'leaf'
  }

  get role (): RoleName {
    return this.current
  }

  get isSupernode (): boolean {
    return this.current === 'super'
  }

  /** The capacity score now; undefined until the bandwidth probe has run. */
  score (): number | undefined {
    if (this.bandwidth === undefined) return undefined
    const up = this.init.uploadRate > 0 ? Math.min(this.bandwidth, this.init.uploadRate) : this.bandwidth
    return capacityScore({ uploadBytesPerSec: up, ...localCapacity(this.startedAt), dialable: this.init.components.getMultiaddrs().length > 0 }, this.init.config)
  }

  /** Leaves we take as a supernode (by score); 0 as a leaf. */
  maxLeaves (): number {
    return this.isSupernode ? leafCapacity(this.score() ?? this.init.config.superThreshold, this.init.config.maxLeaves) : 0
  }

  /** One round: a bandwidth probe when due, then the election. */
  tick (): void {
    this.probe()
    this.elect()
  }

  /** What `sedai id` shows of the role. */
  info (): Record<string, unknown> {
    return {
      role: this.current,
      roleMode: this.mode,
      score: this.score(),
      bandwidth: this.bandwidth === undefined ? undefined : Math.round(this.bandwidth),
      uploadRate: this.init.uploadRate > 0 ? this.init.uploadRate : undefined
    }
  }

  /** Measures upload bandwidth against a connected peer (any: the daemon dials its bootstrap peers). */
  private probe (): void {
    if (this.probing || performance.now() - this.probedAt < this.probeEveryMs) return
    const peers = this.init.components.getPeers()
    if (peers.length === 0) return
    const peer = peers[Math.floor(Math.random() * peers.length)]
    this.probing = true
    this.probedAt = performance.now()
    measureUpload(this.init.components, peer, this.init.limiter).then(bps => {
      this.bandwidth = Math.max(bps, this.bandwidth ?? 0)
      // soon again, then less and less often: a probe taken while the host was busy starting must not stick
      this.probeEveryMs = Math.min(this.probeEveryMs * 2, this.init.config.probeIntervalMs)
      count(this.init.ctx, 'probes')
      this.init.ctx.log.info({ peer: peer.toString(), bytesPerSec: Math.round(bps), score: this.score() }, 'capacity measured')
    }, err => {
      this.init.ctx.log.debug({ peer: peer.toString(), err: err.message }, 'bandwidth probe failed')
    }).finally(() => { this.probing = false })
  }

  private elect (): void {
    if (this.mode !== 'auto') return
    const now = performance.now()
    const { supers, leaves } = this.init.view()
    if (leaves > 0) this.leaflessSince = undefined
    else this.leaflessSince ??= now
    const result = elect({
      role: this.current,
      since: this.since,
      now,
      score: this.score(),
      supers,
      leaves,
      leaflessSince: this.leaflessSince
    }, this.init.config)
    if (result.role !== this.current) {
      this.change(result.role, result.reason)
    } else if (result.reason !== this.lastReason) {
      this.lastReason = result.reason
      this.init.ctx.log.debug({ role: this.current, reason: result.reason }, 'role kept')
    }
  }

  private change (role: RoleName, reason: string): void {
    const from = this.current
    this.current = role
    this.since = performance.now()
    this.leaflessSince = performance.now()
    count(this.init.ctx, 'roleChanges')
    this.init.ctx.log.info({ from, to: role, reason, score: this.score() }, 'role changed')
    this.init.onChange(role)
  }
}
