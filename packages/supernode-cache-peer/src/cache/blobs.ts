import { readdir, rmdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { MANIFEST_INDEX, SEAL_OVERHEAD } from './crypto.ts'

export type CachePolicy = 'lru' | 'lfu'

/** One blob on disk, known by locator + index + size only (so it can be rebuilt by a scan without any CID). */
export interface Entry {
  loc: string
  index: number
  /** bytes on disk (sealed) */
  size: number
  /** LFU count (aged) */
  freq: number
  lastAccess: number
  /** tie-break of lastAccess: strictly increases with every access */
  seq: number
}

/** A file's manifest blob is `manifest.bin`, chunk i's `i.bin`; a write in progress ends in `.tmp`. */
export const MANIFEST_FILE = 'manifest.bin'
export const TMP_SUFFIX = '.tmp'
const LOCATOR_RE = /^[0-9a-f]{64}$/
const CHUNK_RE = /^(0|[1-9][0-9]{0,9})\.bin$/

/**
 * The cache's blobs in memory: by locator and index, their total size, and
 * the eviction order (LRU: least recently used; LFU: least count, aged by
 * halving every agingAccesses accesses, least recently used among equals).
 */
export class BlobTable {
  private readonly blobs = new Map<string, Map<number, Entry>>()
  private readonly policy: CachePolicy
  private readonly agingAccesses: number
  private readonly now: () => number
  private totalBytes = 0
  private count = 0
  private accesses = 0
  private seq = 0

  constructor (policy: CachePolicy, agingAccesses: number, now: () => number) {
    this.policy = policy
    this.agingAccesses = agingAccesses
    this.now = now
  }

  /** bytes of all blobs (sealed) */
  get bytes (): number { return this.totalBytes }
  get entries (): number { return this.count }

  get (loc: string, index: number): Entry | undefined {
    return this.blobs.get(loc)?.get(index)
  }

  /** The blobs of one file (locator), by index. */
  of (loc: string): ReadonlyMap<number, Entry> | undefined {
    return this.blobs.get(loc)
  }

  hasFile (loc: string): boolean {
    return this.blobs.has(loc)
  }

  insert (entry: Entry): void {
    let blobs = this.blobs.get(entry.loc)
    if (blobs === undefined) {
      blobs = new Map()
      this.blobs.set(entry.loc, blobs)
    }
    blobs.set(entry.index, entry)
    this.totalBytes += entry.size
    this.count++
  }

  /** Entries found on disk at open, oldest first: recency follows their order. */
  insertScanned (entry: Entry): void {
    entry.seq = ++this.seq
    this.insert(entry)
  }

  /** Takes `entry` out if it is still the current one: undefined if not, else whether it was its file's last blob. */
  remove (entry: Entry): { last: boolean } | undefined {
    const blobs = this.blobs.get(entry.loc)
    if (blobs?.get(entry.index) !== entry) return undefined
    blobs.delete(entry.index)
    this.totalBytes -= entry.size
    this.count--
    const last = blobs.size === 0
    if (last) this.blobs.delete(entry.loc)
    return { last }
  }

  /** An access: counted for LFU (aged every agingAccesses) and as the most recent for LRU. */
  touch (entry: Entry): void {
    entry.freq++
    entry.lastAccess = this.now()
    entry.seq = ++this.seq
    if (++this.accesses % this.agingAccesses === 0 && this.policy === 'lfu') {
      for (const blobs of this.blobs.values()) {
        for (const e of blobs.values()) e.freq = Math.floor(e.freq / 2)
      }
    }
  }

  /** The next blob to evict by the policy. O(entries), only on eviction. */
  victim (): Entry | undefined {
    let best: Entry | undefined
    for (const blobs of this.blobs.values()) {
      for (const e of blobs.values()) {
        if (best === undefined || this.before(e, best)) best = e
      }
    }
    return best
  }

  private before (a: Entry, b: Entry): boolean {
    if (this.policy === 'lfu' && a.freq !== b.freq) return a.freq < b.freq
    if (a.lastAccess !== b.lastAccess) return a.lastAccess < b.lastAccess
    return a.seq < b.seq
  }
}

/**
 * The blobs on disk in `dir`, oldest first (by mtime): locators, indices and
 * sizes. Interrupted writes, blobs too short to be sealed and folders left
 * empty are removed; names that are not ours are left alone and not counted.
 */
export async function scanBlobs (dir: string): Promise<Entry[]> {
  const found: Entry[] = []
  for (const dirent of await readdir(dir, { withFileTypes: true })) {
    if (!dirent.isDirectory() || !LOCATOR_RE.test(dirent.name)) continue
    const loc = dirent.name
    const folder = join(dir, loc)
    let kept = 0
    for (const name of await readdir(folder)) {
      const path = join(folder, name)
      if (name.endsWith(TMP_SUFFIX)) {
        // a write interrupted by a crash
        await unlink(path).catch(() => {})
        continue
      }
      const m = CHUNK_RE.exec(name)
      const index = name === MANIFEST_FILE ? MANIFEST_INDEX : m !== null && Number(m[1]) < MANIFEST_INDEX ? Number(m[1]) : undefined
      if (index === undefined) continue
      const st = await stat(path).catch(() => undefined)
      if (st === undefined || !st.isFile()) continue
      if (st.size < SEAL_OVERHEAD) {
        await unlink(path).catch(() => {})
        continue
      }
      found.push({ loc, index, size: st.size, freq: 1, lastAccess: st.mtimeMs, seq: 0 })
      kept++
    }
    // fails, as it should, if something not ours is left in it
    if (kept === 0) await rmdir(folder).catch(() => {})
  }
  return found.sort((a, b) => a.lastAccess - b.lastAccess)
}
