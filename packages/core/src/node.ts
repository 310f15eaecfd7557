import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { coalescedTcp } from './tcp-writes.ts'
import { createLibp2p } from 'libp2p'
import { DEFAULTS } from './config.ts'
import { idleConnectionReaper } from './idle-reaper.ts'
import { lanDiscovery } from './lan-discovery.ts'
import type { LanDiscoveryInit } from './lan-discovery.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey, ServiceMap } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { ServiceFactoryMap } from 'libp2p'

export interface BaseServices {
  identify: Identify
  ping: Ping
}

export type SedaiLibp2p<S extends ServiceMap = ServiceMap> = Libp2p<BaseServices & S>

export interface CreateNodeInit<S extends ServiceMap = ServiceMap> {
  privateKey: PrivateKey
  /** listen multiaddrs; default DEFAULTS.listen */
  listen?: string[]
  /** addresses to announce instead of the listen addresses (e.g. a container's service name) */
  announce?: string[]
  /** extra libp2p services (the generations' protocols) */
  services?: ServiceFactoryMap<S>
  maxConnections?: number
  maxIncomingPendingConnections?: number
  inboundConnectionThreshold?: number
  allowLoopback?: boolean
  dialTimeoutMs?: number
  connectionPingTimeoutMs?: number
  /**
   * libp2p's connection monitor (a ping on every connection every 10 s);
   * default on. Labs that pack hundreds of nodes in one process turn it off:
   * its pings are most of their idle CPU.
   */
  connectionMonitor?: boolean
  /**
   * Close connections that carried no stream for this long (ms), except to
   * KEEP_ALIVE-tagged peers (idle-reaper.ts); default off. Labs of hundreds
   * of DHT nodes on loopback set it: libp2p never prunes allow-listed
   * (loopback) connections.
   */
  idleConnectionMs?: number
  /**
   * LAN discovery over mDNS (lan-discovery.ts): find sedai daemons on the
   * local network and dial them; `true` for the defaults. Default off:
   * multicast leaves the machine.
   */
  mdns?: boolean | LanDiscoveryInit
  /** start listening right away; default true */
  start?: boolean
}

const LOOPBACK_NETS = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']

/**
 * The one transport every generation shares: TCP, Noise (XX, Ed25519
 * identities), yamux, identify and ping, with connection limits set
 * explicitly rather than left to libp2p's defaults.
 */
export async function createNode<S extends ServiceMap = ServiceMap> (init: CreateNodeInit<S>): Promise<SedaiLibp2p<S>> {
  const allowLoopback = init.allowLoopback ?? DEFAULTS.allowLoopback
  const node = await createLibp2p({
    privateKey: init.privateKey,
    start: init.start ?? true,
    addresses: {
      listen: [...(init.listen ?? DEFAULTS.listen)],
      announce: init.announce
    },
    // one socket write per Noise message, not four (tcp-writes.ts says why)
    transports: [coalescedTcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux({
      // a 1 MiB chunk fits the first window, so a fresh stream does not stall
      // on window updates (yamux's 256 KiB default costs a round trip per 256 KiB)
      streamOptions: { initialStreamWindowSize: 2 * 1024 * 1024, maxStreamWindowSize: 16 * 1024 * 1024 }
    })],
    connectionManager: {
      maxConnections: init.maxConnections ?? DEFAULTS.maxConnections,
      maxIncomingPendingConnections: init.maxIncomingPendingConnections ?? DEFAULTS.maxIncomingPendingConnections,
      inboundConnectionThreshold: init.inboundConnectionThreshold ?? DEFAULTS.inboundConnectionThreshold,
      dialTimeout: init.dialTimeoutMs ?? DEFAULTS.dialTimeoutMs,
      allow: allowLoopback ? LOOPBACK_NETS : []
    },
    connectionMonitor: {
      enabled: init.connectionMonitor ?? true,
      pingTimeout: { minTimeout: init.connectionPingTimeoutMs ?? DEFAULTS.connectionPingTimeoutMs, maxTimeout: Math.max(60_000, init.connectionPingTimeoutMs ?? DEFAULTS.connectionPingTimeoutMs) }
    },
    services: {
      identify: identify(),
      ping: ping(),
      ...(init.idleConnectionMs !== undefined && init.idleConnectionMs > 0 ? { idleReaper: idleConnectionReaper({ idleMs: init.idleConnectionMs }) } : {}),
      ...(init.mdns !== undefined && init.mdns !== false ? { lan: lanDiscovery(init.mdns === true ? {} : init.mdns) } : {}),
      ...(init.services ?? {})
    } as any
  })
  return node as unknown as SedaiLibp2p<S>
}
