import { MAX_ADDRS } from '../protocol/constants.ts'
import type { PeerEntry } from '../protocol/messages.ts'
import type { Logger, Stats } from '@sedai/core'
import type { Connection, PeerId, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * The overlay link layer that the flooding (Gnutella 0.6) and supernode
 * (KaZaA) generations share. A generation is a policy on top of it: which
 * handshake confirms a link, which links a query is forwarded on, who may be
 * linked. docs/ARCHITECTURE.md ("The overlay link layer") maps the files.
 */

/** What the link layer needs of a libp2p node (a Libp2p satisfies it). */
export interface OverlayComponents {
  peerId: PeerId
  handle: (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  dial: (target: PeerId | Multiaddr | Multiaddr[], options?: { signal?: AbortSignal }) => Promise<Connection>
  getMultiaddrs: () => Multiaddr[]
}

/** Who is counting and logging: one per service, so each generation keeps its own stats names ('flood.*', 'supernode.*'). */
export interface OverlayContext {
  /** our peer id */
  self: string
  /** the stats prefix and the protocol name in message counters: 'flood' or 'supernode' */
  name: string
  stats: Stats
  log: Logger
  /** a message type's name for the per-type counters (each generation adds its own types) */
  messageName: (type: number) => string
}

/** Adds `n` to the service's counter `key` (stats `${name}.${key}`). */
export function count (ctx: OverlayContext, key: string, n = 1): void {
  ctx.stats.inc(`${ctx.name}.${key}`, n)
}

/**
 * Our own entry for PONGs, STATUS and hits: the listen addresses without
 * /p2p/, at most MAX_ADDRS (the codec's limit). A loopback address is useless
 * to another host, so it is kept only when it is all we have (a one-host lab).
 */
export function ownEntry (self: string, multiaddrs: Multiaddr[]): PeerEntry {
  const all = [...new Set(multiaddrs.map(a => a.toString().replace(/\/p2p\/[^/]+$/, '')))]
  const routable = all.filter(a => !/^\/ip4\/127\.|^\/ip6\/::1\//.test(a))
  return { peerId: self, addrs: (routable.length > 0 ? routable : all).slice(0, MAX_ADDRS) }
}
