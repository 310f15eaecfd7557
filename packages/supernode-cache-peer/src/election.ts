import type { SupernodeConfig } from './config.ts'

export type RoleName = 'leaf' | 'super'

/** What the election looks at. */
export interface ElectionView {
  role: RoleName
  /** when the current role began (ms, any clock shared with `now`) */
  since: number
  now: number
  /** capacity score; undefined until the bandwidth probe has run */
  score?: number
  /** the other supernodes this node knows (fresh), with their load */
  supers: Array<{ leaves: number, maxLeaves: number }>
  /** for a supernode: its leaves now, and since when it has had none */
  leaves: number
  leaflessSince?: number
}

export interface ElectionResult { role: RoleName, reason: string }

type ElectionConfig = Pick<SupernodeConfig, 'superThreshold' | 'demoteFactor' | 'minSupernodes' | 'promoteLoad' | 'idleSuperMs' | 'minRoleMs'>

function loaded (s: { leaves: number, maxLeaves: number }, load: number): boolean {
  return s.maxLeaves <= 0 || s.leaves >= s.maxLeaves * load
}

/**
 * KaZaA-style automatic roles, with hysteresis so roles do not flap:
 *
 * - a leaf becomes a supernode when its score is at or above the threshold
 *   AND the overlay needs one: it knows fewer than `minSupernodes`, or every
 *   supernode it knows is loaded (leaves >= promoteLoad x its maximum);
 * - a supernode steps down when its score falls below threshold x
 *   demoteFactor, or when it has had no leaf for `idleSuperMs` while at least
 *   `minSupernodes` others exist and one of them has room;
 * - no change happens within `minRoleMs` of the last one.
 */
export function elect (view: ElectionView, config: ElectionConfig): ElectionResult {
  const stay = (reason: string): ElectionResult => ({ role: view.role, reason })
  if (view.score === undefined) return stay('capacity not measured yet')
  if (view.now - view.since < config.minRoleMs) return stay('too soon after the last change')
  if (view.role === 'leaf') {
    if (view.score < config.superThreshold) return stay('capacity below the threshold')
    if (view.supers.length < config.minSupernodes) return { role: 'super', reason: `only ${view.supers.length} supernodes known (want ${config.minSupernodes})` }
    if (view.supers.every(s => loaded(s, config.promoteLoad))) return { role: 'super', reason: 'every known supernode is loaded' }
    return stay('enough supernodes with room')
  }
  if (view.score < config.superThreshold * config.demoteFactor) return { role: 'leaf', reason: 'capacity fell below the threshold' }
  if (view.leaves === 0 && view.leaflessSince !== undefined && view.now - view.leaflessSince >= config.idleSuperMs &&
    view.supers.length >= config.minSupernodes && view.supers.some(s => !loaded(s, config.promoteLoad))) {
    return { role: 'leaf', reason: 'no leaves while other supernodes have room' }
  }
  return stay('needed')
}
