/**
 * The parts of the control API's answers the page reads (the daemon's own
 * types are in packages/cli/src/daemon-api.ts; these mirror them).
 */
export interface IdInfo {
  peerId: string
  addrs: string[]
  modes: string[]
  [mode: string]: unknown
}

export interface SharedFile { cid: string, name: string, size: number, path: string }

export interface SearchResult { cid: string, name: string, size: number, providers: string[] }

export type OverlayKind = 'self' | 'directory-server' | 'supernode' | 'leaf' | 'neighbour' | 'peer' | 'dht' | 'connection'

export interface OverlayNode { id: string, kind: OverlayKind, kinds: OverlayKind[], connected: boolean, bucket?: number, role?: string }

export interface OverlayEdge { id: string, source: string, target: string, kind: Exclude<OverlayKind, 'self'>, bucket?: number }

export interface OverlayInfo {
  self: string
  modes: string[]
  role?: string
  nodes: OverlayNode[]
  edges: OverlayEdge[]
  buckets: Array<{ bucket: number, contacts: number }>
}

export interface DownloadInfo {
  id: string
  cid: string
  name?: string
  size?: number
  have: number
  fetched: number
  rate: number
  sources: string[]
  state: 'running' | 'done' | 'failed'
  startedAt: number
  endedAt?: number
  path?: string
  error?: string
}

export interface ApiError { error: { code: string, message: string } }

/** The lab view's snapshot (packages/lab/src/dashboard.ts LabView; these mirror it). */
export type LabNodeKind = 'directory-server' | 'directory' | 'flood' | 'supernode' | 'leaf' | 'dht'

export interface LabNode {
  index: number
  peerId?: string
  generation: 'directory' | 'flood' | 'supernode' | 'dht'
  kind: LabNodeKind
  state: 'starting' | 'up' | 'dead'
  msgRate: number
  byteRate: number
  messages: number
  connections?: number
}

export interface LabEdge { id: string, source: string, target: string, kinds: string[], msgRate?: number, dead: boolean }

export interface LabView {
  run?: { id: string, generation: string, peers: number, number: number }
  phase: 'waiting' | 'setup' | 'search' | 'download' | 'done'
  searches: { done: number, ok: number, total: number }
  faults: Array<{ kind: 'kill' | 'restart', peers: number[], atMs: number }>
  nodes: LabNode[]
  edges: LabEdge[]
  sampledAt?: number
}
