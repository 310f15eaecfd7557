import type { PeerSpec } from './messages.ts'
import type { Nodes } from './nodes.ts'
import type { RunSpec } from './topology.ts'

/** What a run is doing: starting its peers and waiting for the overlay, searching (with faults), downloading, over. */
export type LabPhase = 'setup' | 'search' | 'download' | 'done'

/**
 * Who watches a run as it goes (the lab dashboard, dashboard.ts). The
 * experiment calls it at each step; every method is synchronous and must not
 * throw, so a watcher cannot slow or break a run. `nodes` is the run's handle
 * on its peers: a watcher may read their stats and overlays, never change them.
 */
export interface LabObserver {
  runStarted: (run: { spec: RunSpec, nodes: Nodes, peers: PeerSpec[], searches: number }) => void
  phase: (phase: LabPhase) => void
  search: (done: { ok: boolean }) => void
  killed: (peers: number[]) => void
  restarted: (peers: number[]) => void
  /** the run is over and its peers are about to stop */
  runEnded: () => void
}
