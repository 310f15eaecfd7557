/** Peers dropped for flooding queries, each until its ban runs out; bounded. */
export class BanList {
  private readonly until = new Map<string, number>()
  private readonly banMs: number
  private readonly maxBanned: number
  private readonly now: () => number

  constructor (init: { banMs: number, maxBanned: number, now?: () => number }) {
    this.banMs = init.banMs
    this.maxBanned = init.maxBanned
    this.now = init.now ?? Date.now
  }

  /**
   * Bans `peer` for banMs. A flooder that cycles identities must not grow the
   * table without bound: when full, expired bans go first, then the oldest.
   */
  ban (peer: string): void {
    this.until.delete(peer)
    if (this.until.size >= this.maxBanned) {
      const now = this.now()
      for (const [p, until] of this.until) if (until <= now) this.until.delete(p)
      // Map order is insertion order: the first entry is the oldest ban
      while (this.until.size > 0 && this.until.size >= this.maxBanned) this.until.delete(this.until.keys().next().value as string)
    }
    this.until.set(peer, this.now() + this.banMs)
  }

  isBanned (peer: string): boolean {
    const until = this.until.get(peer)
    if (until === undefined) return false
    if (this.now() < until) return true
    this.until.delete(peer)
    return false
  }

  /** The peers banned now, oldest ban first. */
  list (): string[] {
    return [...this.until.keys()].filter(p => this.isBanned(p))
  }
}
