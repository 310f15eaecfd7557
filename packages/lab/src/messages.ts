/**
 * The runner and the processes that host its peers exchange these: one
 * request, one reply with the same id. Loopback workers get them over Node's
 * IPC channel (fork), where both sides are this package and TypeScript checks
 * the shapes; container agents get them over TCP (docker/wire.ts), where the
 * framing has size limits and every request carries the run's token.
 */
export interface PeerSpec {
  /** the peer's index in the run */
  index: number
  /** the multiaddr the daemon listens on (loopback: a port chosen before any peer starts, so bootstrap lists can name peers not yet up) */
  listen: string
  repo: string
  modes: string[]
  role?: 'auto' | 'super' | 'leaf'
  bootstrap: string[]
  directory?: string
}

export interface SearchOutcome {
  /** CIDs found, with their provider counts */
  hits: Array<{ cid: string, providers: number }>
  /** time to the first result (ms); undefined = none */
  firstHitMs?: number
  /** time until the search returned (ms) */
  ms: number
  error?: string
}

export interface GetOutcome {
  ms: number
  bytes: number
  sources: string[]
  error?: string
}

export type Request =
  | { op: 'start', peers: PeerSpec[] }
  | { op: 'share', index: number, paths: string[] }
  | { op: 'search', index: number, query: string, ttl?: number, timeoutMs: number }
  | { op: 'get', index: number, cid: string, out: string, timeoutMs: number }
  | { op: 'stats', indexes?: number[] }
  /** each daemon's overlay() (its own links), for the lab dashboard */
  | { op: 'overlay', indexes?: number[] }
  | { op: 'stop', index: number }
  | { op: 'memory' }
  | { op: 'shutdown' }

export interface Envelope { id: number, req: Request }

export type Reply = { id: number, ok: true, result: unknown } | { id: number, ok: false, error: string, code?: string }

export interface StartedPeer { index: number, peerId: string, addrs: string[] }

export interface MemoryReport { rss: number, heapUsed: number, peers: number }
