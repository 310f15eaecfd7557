import type { MemoryReport, PeerSpec, Request } from './messages.ts'

/**
 * Where a run's peers live, as the layout needs to know it: how a peer
 * listens, how the others dial it, and where its repo, its downloads and the
 * shared files are as the peer sees them.
 */
export interface Placement {
  listen: (index: number) => string
  /** the address other peers bootstrap to */
  addr: (index: number) => string
  repo: (index: number) => string
  downloads: (index: number) => string
  /** a shared file's path (written by the runner on this machine) as the peer sees it */
  file: (hostPath: string) => string
}

export interface StartOptions {
  /** the generation's SEDAI_* knobs */
  env: Record<string, string>
  /** loopback: peers per worker process */
  perProcess: number
  /** peers that must be alone in their process (a kill is then a real SIGKILL); in containers every peer is */
  solo?: Set<number>
  timeoutMs?: number
}

/**
 * A run's peers and the runner's handle on them: on loopback, worker
 * processes (local/cluster.ts); in containers, one docker-compose service per
 * peer (docker/cluster.ts). The experiment does not know which.
 */
export interface Nodes {
  /** called once, before any start */
  prepare: (peers: number) => Promise<Placement>
  start: (specs: PeerSpec[], opts: StartOptions) => Promise<void>
  call: <T>(index: number, req: Request, timeoutMs?: number) => Promise<T>
  /** as abrupt as the runner can make it: SIGKILL of the peer's process or container when it is alone there */
  kill: (index: number) => Promise<void>
  /** the killed peer again, on its repo (same identity, same address, same shares) */
  restart: (index: number) => Promise<void>
  /** every live peer's `stats`, by index */
  stats: () => Promise<Map<number, Record<string, any>>>
  memory: () => Promise<MemoryReport[]>
  /** every live peer's overlay() (the links it knows of), by index; for the lab dashboard */
  overlays?: () => Promise<Map<number, Record<string, any>>>
  /** docker only: drop every packet between side `a` and side `b` (no reset: connections stall) */
  partition?: (a: number[], b: number[]) => Promise<void>
  /** docker only: undo the partition */
  heal?: () => Promise<void>
  stop: () => Promise<void>
}
