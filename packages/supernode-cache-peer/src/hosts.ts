import { setBounded } from '@sedai/core'
import { MAX_STATUS_SUPERS } from './protocol/constants.ts'
import { Role, Want } from './protocol/messages.ts'
import type { SupernodeConfig } from './config.ts'
import type { Status, SuperEntry } from './protocol/messages.ts'

/** A supernode we know of; `direct` = from its own STATUS, not from another's list. */
export interface HostEntry extends SuperEntry { seenAt: number, direct: boolean, failedAt?: number }

/**
 * The supernodes this node knows of, from STATUS messages (theirs and the
 * lists in others'): where a leaf attaches, which peers a supernode links
 * to, and what our own STATUS lists. Bounded (hostCacheSize), an entry
 * counts while fresher than hostFreshMs.
 */
export class SupernodeHosts {
  private readonly entries = new Map<string, HostEntry>()
  private readonly self: string
  private readonly config: Pick<SupernodeConfig, 'hostFreshMs' | 'keepaliveMs' | 'hostCacheSize' | 'retryMs'>

  constructor (self: string, config: Pick<SupernodeConfig, 'hostFreshMs' | 'keepaliveMs' | 'hostCacheSize' | 'retryMs'>) {
    this.self = self
    this.config = config
  }

  get (peer: string): HostEntry | undefined {
    return this.entries.get(peer)
  }

  delete (peer: string): void {
    this.entries.delete(peer)
  }

  /** `peer` failed to link (or refused, or the link ended): skipped as a candidate for retryMs. */
  failed (peer: string): void {
    const host = this.entries.get(peer)
    if (host !== undefined) host.failedAt = performance.now()
  }

  /** The supernodes heard of within hostFreshMs, not us. */
  fresh (): HostEntry[] {
    const now = performance.now()
    return [...this.entries.values()].filter(h => now - h.seenAt < this.config.hostFreshMs && h.entry.peerId !== this.self)
  }

  /** What our STATUS lists: the fresh supernodes with the most room first, at most MAX_STATUS_SUPERS. */
  listed (): SuperEntry[] {
    return this.fresh()
      .sort((a, b) => (b.maxLeaves - b.leaves) - (a.maxLeaves - a.leaves))
      .slice(0, MAX_STATUS_SUPERS)
      .map(h => ({ entry: h.entry, score: h.score, leaves: h.leaves, maxLeaves: h.maxLeaves, interests: h.interests }))
  }

  /** What a status tells us: the sender (if a supernode; a first-hand non-supernode is forgotten) and the supernodes it lists. */
  learn (status: Status, firstHand: boolean): void {
    const now = performance.now()
    const put = (listed: SuperEntry, direct: boolean): void => {
      if (listed.entry.peerId === this.self) return
      const old = this.entries.get(listed.entry.peerId)
      // second-hand news never overrides what the supernode itself told us recently
      if (!direct && old?.direct === true && old.seenAt > now - 3 * this.config.keepaliveMs) return
      setBounded(this.entries, listed.entry.peerId, { ...listed, seenAt: now, direct, failedAt: old?.failedAt }, this.config.hostCacheSize)
    }
    if (status.role === Role.SUPER) put({ entry: status.entry, score: status.score, leaves: status.leaves, maxLeaves: status.maxLeaves, interests: status.interests }, firstHand)
    else if (firstHand) this.entries.delete(status.entry.peerId)
    for (const listed of status.supers) put(listed, false)
  }

  /**
   * Up to `n` supernodes to link to, best first: not `skip`ped, not failed
   * within retryMs. A leaf (`want` LEAF) goes where there is most room; a
   * supernode prefers peers whose leaves share its interests `mine` (Winny's
   * clustering), and with `clustering` takes only such peers.
   */
  candidates (n: number, want: Want, mine: Set<string>, clustering: boolean, skip: (peer: string) => boolean): HostEntry[] {
    const now = performance.now()
    const overlap = (host: HostEntry): number => host.interests.filter(interest => mine.has(interest)).length
    return this.fresh()
      .filter(h => !skip(h.entry.peerId))
      .filter(h => h.failedAt === undefined || now - h.failedAt > this.config.retryMs)
      .filter(h => want === Want.PEER || h.leaves < h.maxLeaves)
      .filter(h => !clustering || overlap(h) > 0)
      .sort((a, b) => want === Want.LEAF
        ? ((b.maxLeaves - b.leaves) - (a.maxLeaves - a.leaves)) || (b.score - a.score)
        : (overlap(b) - overlap(a)) || (b.score - a.score))
      .slice(0, n)
  }
}
