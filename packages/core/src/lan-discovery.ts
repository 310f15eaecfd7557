import { mdns } from '@libp2p/mdns'
import { peerDiscoverySymbol } from '@libp2p/interface'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { DEFAULTS } from './config.ts'
import { setBounded } from './util.ts'
import type { ComponentLogger, Logger, PeerDiscovery, PeerId, PeerInfo, Startable } from '@libp2p/interface'
import type { AddressManager, ConnectionManager } from '@libp2p/interface-internal'

export interface LanDiscoveryInit {
  /** how often to ask the LAN (ms); default DEFAULTS.mdnsIntervalMs */
  intervalMs?: number
  /** the mDNS service name asked for and answered; default DEFAULTS.mdnsServiceTag */
  serviceTag?: string
  /**
   * Where discovered peers come from; default @libp2p/mdns. Tests pass an
   * emitter of their own: multicast leaves the machine.
   */
  discovery?: (components: LanDiscoveryComponents) => PeerDiscovery & Partial<Startable>
}

/** What the service needs of libp2p's components. */
export interface LanDiscoveryComponents {
  peerId: PeerId
  addressManager: AddressManager
  connectionManager: Pick<ConnectionManager, 'openConnection' | 'getConnections'>
  logger: ComponentLogger
}

/** `found`: a peer seen on the LAN for the first time; `dial`: a dial to a discovered peer ended. */
export interface LanDiscoveryEvents {
  found: CustomEvent<{ peerId: string, addrs: string[] }>
  dial: CustomEvent<{ peerId: string, ok: boolean, error?: string }>
}

/** Peers remembered as already found (a LAN of more is not the case this serves). */
const MAX_KNOWN = 1024

/**
 * LAN discovery: mDNS finds sedai daemons on the local network, and each one
 * found is dialled. libp2p 3 only merges a discovered peer's addresses into
 * the peer store and never dials it; kad-dht adds a peer to its routing table
 * only once a connection to it is up and identify has shown the DHT protocol
 * (its topology listener). Without the dial, two daemons on one LAN with no
 * --bootstrap would know each other's addresses and still run two DHTs of one.
 *
 * Only this service's discoveries are dialled, not every `peer:discovery`:
 * libp2p raises that for every new peer-store entry, including each peer a
 * DHT lookup names.
 */
export class LanDiscovery extends EventTarget implements Startable {
  /** libp2p listens to this emitter's `peer` events and keeps the addresses */
  readonly [peerDiscoverySymbol]: PeerDiscovery
  readonly [Symbol.toStringTag] = 'sedai:lan-discovery'
  private readonly components: LanDiscoveryComponents
  private readonly discovery: PeerDiscovery & Partial<Startable>
  private readonly log: Logger
  private readonly dialing = new Set<string>()
  private readonly known = new Map<string, true>()
  private controller = new AbortController()
  private started = false
  /** distinct peers found, dials started, dials failed */
  readonly counts = { found: 0, dials: 0, dialFailures: 0 }

  constructor (components: LanDiscoveryComponents, init: LanDiscoveryInit = {}) {
    super()
    this.components = components
    this.log = components.logger.forComponent('sedai:lan-discovery')
    this.discovery = (init.discovery ?? mdns({
      interval: init.intervalMs ?? DEFAULTS.mdnsIntervalMs,
      serviceTag: init.serviceTag ?? DEFAULTS.mdnsServiceTag
    }))(components)
    this[peerDiscoverySymbol] = this.discovery
    this.onPeer = this.onPeer.bind(this)
  }

  /** The discovery that finds the peers (@libp2p/mdns unless a test gave another). */
  get source (): PeerDiscovery {
    return this.discovery
  }

  isStarted (): boolean {
    return this.started
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.discovery.addEventListener('peer', this.onPeer)
    await this.discovery.start?.()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.controller.abort()
    this.discovery.removeEventListener('peer', this.onPeer)
    await this.discovery.stop?.()
    this.dialing.clear()
  }

  private onPeer (evt: CustomEvent<PeerInfo>): void {
    const { id, multiaddrs } = evt.detail
    if (id.equals(this.components.peerId)) return
    const key = id.toString()
    if (!this.known.has(key)) {
      this.counts.found++
      this.dispatchEvent(new CustomEvent('found', { detail: { peerId: key, addrs: multiaddrs.map(String) } }))
    }
    setBounded(this.known, key, true, MAX_KNOWN)
    // mDNS answers again every interval: a peer not connected by then is dialled again then
    if (this.dialing.has(key) || this.components.connectionManager.getConnections(id).length > 0 || multiaddrs.length === 0) return
    this.dialing.add(key)
    this.counts.dials++
    // the peer id in each address, so that the dial fails on an impostor answering at that address
    const targets = multiaddrs.map(ma => ma.getComponents().some(c => c.code === CODE_P2P) ? ma : ma.encapsulate(multiaddr(`/p2p/${key}`)))
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(DEFAULTS.dialTimeoutMs)])
    this.components.connectionManager.openConnection(targets, { signal }).then(() => {
      this.dispatchEvent(new CustomEvent('dial', { detail: { peerId: key, ok: true } }))
    }, (err: Error) => {
      this.counts.dialFailures++
      this.log('dial to LAN peer %s failed - %e', key, err)
      this.dispatchEvent(new CustomEvent('dial', { detail: { peerId: key, ok: false, error: err.message } }))
    }).finally(() => { this.dialing.delete(key) })
  }
}

/** The libp2p service factory: `services: { lan: lanDiscovery() }` (createNode does it for `mdns`). */
export function lanDiscovery (init: LanDiscoveryInit = {}): (components: LanDiscoveryComponents) => LanDiscovery {
  return (components) => new LanDiscovery(components, init)
}
