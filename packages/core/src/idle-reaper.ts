import { KEEP_ALIVE } from '@libp2p/interface'
import type { ComponentLogger, Connection, Logger, PeerStore, Startable } from '@libp2p/interface'

export interface IdleReaperInit {
  /** a connection with no stream for this long is closed (ms) */
  idleMs: number
}

/** what the reaper needs of libp2p's components (the connection manager's type is internal to libp2p) */
interface Components { connectionManager: { getConnections: () => Connection[] }, peerStore: PeerStore, logger: ComponentLogger }

/**
 * Closes connections that have carried no stream for `idleMs`, except to
 * peers tagged KEEP_ALIVE (kad-dht's closest peers, overlay links). libp2p
 * never prunes connections from its allow list (the lab allows loopback,
 * whose sockets all come from 127.0.0.1), so without this every peer a DHT
 * lookup touched would stay connected: a thousand loopback nodes end up
 * nearly fully meshed, each connection end costing memory and upkeep.
 */
export class IdleConnectionReaper implements Startable {
  private readonly components: Components
  private readonly idleMs: number
  private readonly log: Logger
  /** connection id -> when it was first seen without a stream */
  private readonly idleSince = new Map<string, number>()
  private timer?: NodeJS.Timeout
  /** connections closed so far */
  reaped = 0

  constructor (components: Components, init: IdleReaperInit) {
    this.components = components
    this.idleMs = init.idleMs
    this.log = components.logger.forComponent('sedai:idle-reaper')
  }

  start (): void {
    // two sweeps per period: a connection is closed between idleMs and 1.5 × idleMs after its last stream
    this.timer = setInterval(() => { this.sweep().catch((err: Error) => { this.log.error('sweep failed - %e', err) }) }, Math.max(100, this.idleMs / 2))
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.idleSince.clear()
  }

  async sweep (now = Date.now()): Promise<void> {
    const open = new Set<string>()
    for (const conn of this.components.connectionManager.getConnections()) {
      if (conn.status !== 'open') continue
      open.add(conn.id)
      if (conn.streams.length > 0) { this.idleSince.delete(conn.id); continue }
      const since = this.idleSince.get(conn.id)
      if (since === undefined) { this.idleSince.set(conn.id, now); continue }
      if (now - since < this.idleMs) continue
      const peer = await this.components.peerStore.get(conn.remotePeer).catch(() => undefined)
      if (peer !== undefined && [...peer.tags.keys()].some(t => t.startsWith(KEEP_ALIVE))) continue
      this.idleSince.delete(conn.id)
      this.reaped++
      await conn.close().catch(() => { conn.abort(new Error('idle connection')) })
    }
    for (const id of this.idleSince.keys()) if (!open.has(id)) this.idleSince.delete(id)
  }
}

export function idleConnectionReaper (init: IdleReaperInit): (components: Components) => IdleConnectionReaper {
  return (components) => new IdleConnectionReaper(components, init)
}
