import type { Mode, OverlayLink } from '@sedai/core'
import type { OverlayEdge, OverlayInfo, OverlayKind, OverlayNode } from './daemon-api.ts'

/** The order in which a peer's kinds name it: the first one it has is its `kind`. */
const KIND_ORDER: readonly OverlayKind[] = ['self', 'directory-server', 'supernode', 'leaf', 'neighbour', 'peer', 'dht', 'connection']

export interface OverlayInit {
  self: string
  modes: readonly Mode[]
  /** peers with an open connection */
  connected: readonly string[]
}

/**
 * The overlay as this node knows it, from what each mode reports: its own
 * `overlay()` where it has one (the DHT's buckets), else its `info()` and
 * `peerInfo()` (flood neighbours, supernode links, the directory server).
 * Every edge starts at this node: a node knows its own links, not its
 * neighbours' (theirs are on their own dashboards).
 */
export function buildOverlay (init: OverlayInit): OverlayInfo {
  const connected = new Set(init.connected)
  const links: OverlayLink[] = []
  const roles = new Map<string, string>()
  let role: string | undefined
  for (const mode of init.modes) {
    const own = safely(() => mode.overlay?.())
    if (own !== undefined) {
      links.push(...own)
      continue
    }
    const info = safely(() => mode.info?.()) ?? {}
    if (mode.name === 'flood') {
      for (const peer of stringList(info.neighbours)) links.push({ peerId: peer, kind: 'neighbour' })
    } else if (mode.name === 'supernode') {
      if (typeof info.role === 'string') role = info.role
      for (const peer of stringList(info.supernodes)) links.push({ peerId: peer, kind: 'supernode' })
      for (const peer of connected) {
        const about = safely(() => mode.peerInfo?.(peer))
        if (typeof about?.role === 'string') roles.set(peer, about.role)
        const kind = about?.link === 'super' ? 'supernode' : about?.link === 'leaf' ? 'leaf' : about?.link === 'peer' ? 'peer' : undefined
        if (kind !== undefined) links.push({ peerId: peer, kind })
      }
    } else if (mode.name === 'directory') {
      const server = typeof info.server === 'string' ? peerIdOf(info.server) : undefined
      if (server !== undefined) links.push({ peerId: server, kind: 'directory-server' })
    } else if (mode.name === 'directory-server') {
      role ??= 'directory-server'
    }
  }

  const nodes = new Map<string, OverlayNode>()
  const edges = new Map<string, OverlayEdge>()
  nodes.set(init.self, { id: init.self, kind: 'self', kinds: ['self'], connected: true, ...(role !== undefined ? { role } : {}) })
  const add = (peerId: string, kind: Exclude<OverlayKind, 'self'>, bucket?: number): void => {
    if (peerId === init.self || peerId === '') return
    let node = nodes.get(peerId)
    if (node === undefined) {
      node = { id: peerId, kind, kinds: [], connected: connected.has(peerId) }
      const peerRole = roles.get(peerId)
      if (peerRole !== undefined) node.role = peerRole
      nodes.set(peerId, node)
    }
    if (!node.kinds.includes(kind)) node.kinds.push(kind)
    node.kinds.sort(byKind)
    node.kind = node.kinds[0]
    if (bucket !== undefined) node.bucket = bucket
    const id = `${kind}:${peerId}`
    if (!edges.has(id)) edges.set(id, { id, source: init.self, target: peerId, kind, ...(bucket !== undefined ? { bucket } : {}) })
  }
  for (const link of links) add(link.peerId, link.kind, link.bucket)
  // a connected peer on no overlay link still shows (a download's source, a directory client, a new dial)
  for (const peer of connected) if (!nodes.has(peer)) add(peer, 'connection')

  const buckets = new Map<number, number>()
  for (const link of links) if (link.kind === 'dht' && link.bucket !== undefined) buckets.set(link.bucket, (buckets.get(link.bucket) ?? 0) + 1)
  return {
    self: init.self,
    modes: init.modes.map(m => m.name),
    ...(role !== undefined ? { role } : {}),
    // sorted: the same overlay gives the same JSON, so the event stream sends only changes
    nodes: [...nodes.values()].sort((a, b) => byKind(a.kind, b.kind) || a.id.localeCompare(b.id)),
    edges: [...edges.values()].sort((a, b) => a.id.localeCompare(b.id)),
    buckets: [...buckets].sort(([a], [b]) => a - b).map(([bucket, contacts]) => ({ bucket, contacts }))
  }
}

function byKind (a: OverlayKind, b: OverlayKind): number {
  return KIND_ORDER.indexOf(a) - KIND_ORDER.indexOf(b)
}

function stringList (value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

/** The peer id at the end of a multiaddr (`.../p2p/<id>`), if it names one. */
function peerIdOf (addr: string): string | undefined {
  const parts = addr.split('/')
  const i = parts.lastIndexOf('p2p')
  return i >= 0 && i + 1 < parts.length && parts[i + 1] !== '' ? parts[i + 1] : undefined
}

/** A mode's report that throws is left out: the graph is a view, not a reason to fail. */
function safely<T> (read: () => T): T | undefined {
  try {
    return read()
  } catch {
    return undefined
  }
}
