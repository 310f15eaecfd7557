/**
 * The encrypted, bounded chunk cache of a supernode: copies of the chunks it
 * relays, kept so later queries can be answered from here. Blobs live at
 * `<dir>/<locator>/<index>.bin` (the manifest at `manifest.bin`), sealed with a
 * key derived from the CID (see crypto.ts), so without a CID the disk shows
 * only opaque names, sizes and times. What the cache knows in plaintext (CID,
 * name, size of complete files) is kept in memory only.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HashMismatchError, InvalidOptionError, chunkCount, chunkHash, decodeManifest, parseCid, sha256, verifyManifest } from '@sedai/core'
import type { Manifest } from '@sedai/core'
import { BlobTable, MANIFEST_FILE, TMP_SUFFIX, scanBlobs } from './blobs.ts'
import { MANIFEST_INDEX, SEAL_OVERHEAD, cacheKey, locator, openChunk, sealChunk } from './crypto.ts'
import type { CachePolicy, Entry } from './blobs.ts'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/**
 * Largest chunk the cache accepts (bytes): 4 MiB, core's DEFAULTS.maxChunkSize,
 * the largest chunk a valid manifest can have. Anything bigger is not a chunk.
 */
export const MAX_CACHED_CHUNK_BYTES = 4 * MiB

export type { CachePolicy } from './blobs.ts'

/** Every knob of the cache, in one place. */
export const CACHE_DEFAULTS = {
  /** Cap on the bytes of all blobs (sealed chunks and manifests) on disk. */
  maxBytes: 1 * GiB,
  /**
   * 'lfu': under Zipf-like popularity (what file-sharing query traces show) how
   * often an item was requested predicts its next requests better than how
   * recently, so LFU keeps the popular head while one-off transfers pass
   * through; aging (below) bounds the pollution by items that were hot once.
   */
  policy: 'lfu' as CachePolicy,
  /**
   * LFU aging: every this many accesses all counts are halved, so a once-hot
   * item decays and can be evicted. W-TinyLFU halves after 10x its capacity in
   * samples; 1 GiB of 1 MiB chunks is ~1024 entries, hence ~10k.
   */
  lfuAgingAccesses: 10_240
} as const

export interface ChunkCacheInit {
  /** folder of the blobs; created 0700 if missing */
  dir: string
  /** default CACHE_DEFAULTS.maxBytes */
  maxBytes?: number
  /** default CACHE_DEFAULTS.policy */
  policy?: CachePolicy
  /** default CACHE_DEFAULTS.lfuAgingAccesses; Infinity turns aging off */
  lfuAgingAccesses?: number
  /** clock of recency (ms); default Date.now, which is comparable with blob mtimes so recency order survives a restart */
  now?: () => number
}

export interface CachedFile {
  cid: string
  name: string
  size: number
}

export interface CacheStats {
  policy: CachePolicy
  bytes: number
  maxBytes: number
  entries: number
  hits: number
  misses: number
  evictions: number
  files: number
}

/** What a CID resolves to; computed per call, never stored. */
interface Ref {
  /** canonical (base32) */
  cid: string
  parsed: ReturnType<typeof parseCid>
  loc: string
  key: Buffer
}

interface FileRecord extends CachedFile {
  chunks: number
}

export class ChunkCache {
  private readonly dir: string
  private readonly maxBytes: number
  private readonly policy: CachePolicy
  private readonly blobs: BlobTable
  /** complete-or-not files whose CID we learnt in this process, by locator; dropped with their manifest */
  private readonly records = new Map<string, FileRecord>()
  /** per-locator chain of disk operations, so a write, read, unlink or rmdir of one folder never interleave */
  private readonly queues = new Map<string, Promise<void>>()
  /** the last manifest decoded to verify chunks, so a file's chunks do not each decode it again */
  private memo?: { loc: string, manifest: Manifest }
  private hits = 0
  private misses = 0
  private evictions = 0
  private closed = false

  private constructor (init: Required<ChunkCacheInit>) {
    this.dir = init.dir
    this.maxBytes = init.maxBytes
    this.policy = init.policy
    this.blobs = new BlobTable(init.policy, init.lfuAgingAccesses, init.now)
  }

  /** Open (creating) the cache in `init.dir`; blobs already there are counted and evicted as usual, though their files are not listed until their CID is seen again. */
  static async open (init: ChunkCacheInit): Promise<ChunkCache> {
    const opts = {
      dir: init.dir,
      maxBytes: init.maxBytes ?? CACHE_DEFAULTS.maxBytes,
      policy: init.policy ?? CACHE_DEFAULTS.policy,
      lfuAgingAccesses: init.lfuAgingAccesses ?? CACHE_DEFAULTS.lfuAgingAccesses,
      now: init.now ?? Date.now
    }
    if (typeof opts.dir !== 'string' || opts.dir === '') {
      throw new InvalidOptionError('cache dir must be a non-empty path')
    }
    if (!Number.isSafeInteger(opts.maxBytes) || opts.maxBytes <= 0) {
      throw new InvalidOptionError(`cache maxBytes must be a positive integer, not ${opts.maxBytes}`)
    }
    if (opts.policy !== 'lru' && opts.policy !== 'lfu') {
      throw new InvalidOptionError(`cache policy must be 'lru' or 'lfu', not ${JSON.stringify(opts.policy)}`)
    }
    if (!(opts.lfuAgingAccesses === Infinity || (Number.isSafeInteger(opts.lfuAgingAccesses) && opts.lfuAgingAccesses > 0))) {
      throw new InvalidOptionError(`cache lfuAgingAccesses must be a positive integer or Infinity, not ${opts.lfuAgingAccesses}`)
    }
    await mkdir(opts.dir, { recursive: true, mode: 0o700 })
    const cache = new ChunkCache(opts)
    for (const entry of await scanBlobs(opts.dir)) cache.blobs.insertScanned(entry)
    // a smaller cap than last time; done on disk before the cache is used
    cache.makeRoom(0)
    await cache.settle()
    return cache
  }

  /**
   * Cache the manifest of `cid`. The bytes must hash to the CID
   * (HashMismatchError) and decode (InvalidManifestError), and `meta` must be
   * what they say (InvalidOptionError): a cache keyed by content never holds
   * anything but that content. A manifest larger than maxBytes is not stored.
   */
  async putManifest (cid: string, manifestBytes: Uint8Array, meta: { name: string, size: number, chunks: number }): Promise<void> {
    this.checkOpen()
    const ref = resolve(cid)
    const manifest = await verifyManifest(ref.parsed, manifestBytes)
    if (meta.name !== manifest.name || meta.size !== manifest.size || meta.chunks !== chunkCount(manifest)) {
      throw new InvalidOptionError(`meta ${JSON.stringify(meta)} does not match the manifest of ${ref.cid}`)
    }
    const existing = this.entry(ref.loc, MANIFEST_INDEX)
    if (existing !== undefined) {
      this.blobs.touch(existing)
    } else if (!await this.store(ref, MANIFEST_INDEX, manifestBytes)) {
      return
    }
    this.remember(ref, manifest)
  }

  /** The cached manifest bytes of `cid` (checked against it), or undefined. */
  async getManifest (cid: string): Promise<Uint8Array | undefined> {
    this.checkOpen()
    const ref = resolve(cid)
    const found = await this.loadManifest(ref)
    if (found === undefined) {
      this.misses++
      return undefined
    }
    this.hits++
    this.blobs.touch(found.entry)
    return found.bytes
  }

  /**
   * Cache chunk `index` of `cid`. It is checked against the cached manifest
   * (HashMismatchError), which must therefore be here: without it the chunk
   * cannot be verified and is not stored (false). Also false when the chunk
   * alone is larger than maxBytes. True if it is cached (now or already).
   */
  async putChunk (cid: string, index: number, plaintext: Uint8Array): Promise<boolean> {
    this.checkOpen()
    checkIndex(index)
    if (!(plaintext instanceof Uint8Array)) {
      throw new InvalidOptionError('chunk must be a Uint8Array')
    }
    if (plaintext.byteLength > MAX_CACHED_CHUNK_BYTES) {
      throw new InvalidOptionError(`chunk of ${plaintext.byteLength} bytes is larger than ${MAX_CACHED_CHUNK_BYTES}`)
    }
    const ref = resolve(cid)
    const existing = this.entry(ref.loc, index)
    if (existing !== undefined) {
      this.blobs.touch(existing)
      return true
    }
    if (plaintext.byteLength + SEAL_OVERHEAD > this.maxBytes) return false
    const found = await this.loadManifest(ref)
    if (found === undefined) return false
    const n = chunkCount(found.manifest)
    if (index >= n) {
      throw new InvalidOptionError(`chunk index ${index} out of range [0, ${n}) of ${ref.cid}`)
    }
    if (!equalBytes(sha256(plaintext), chunkHash(found.manifest, index))) {
      throw new HashMismatchError(`chunk ${index} does not match the manifest of ${ref.cid}`)
    }
    // a concurrent put of the same chunk may have won while the manifest was read
    const raced = this.entry(ref.loc, index)
    if (raced !== undefined) {
      this.blobs.touch(raced)
      return true
    }
    return await this.store(ref, index, plaintext)
  }

  /** Chunk `index` of `cid`, decrypted; undefined (a miss) if absent or if its blob fails authentication, which deletes it. */
  async getChunk (cid: string, index: number): Promise<Uint8Array | undefined> {
    this.checkOpen()
    checkIndex(index)
    const ref = resolve(cid)
    const entry = this.entry(ref.loc, index)
    const plain = entry === undefined ? undefined : await this.readBlob(ref, entry)
    if (entry === undefined || plain === undefined) {
      this.misses++
      return undefined
    }
    this.hits++
    this.blobs.touch(entry)
    return plain
  }

  /** Whether chunk `index` of `cid` is cached (no disk access, not counted as an access). */
  hasChunk (cid: string, index: number): boolean {
    this.checkOpen()
    checkIndex(index)
    return this.entry(resolve(cid).loc, index) !== undefined
  }

  /** Files whose manifest and every chunk are cached and whose CID was seen since open: what this supernode can advertise. */
  files (): CachedFile[] {
    const out: CachedFile[] = []
    for (const [loc, rec] of this.records) {
      const blobs = this.blobs.of(loc)
      if (blobs === undefined || !blobs.has(MANIFEST_INDEX)) continue
      let complete = true
      for (let i = 0; i < rec.chunks && complete; i++) complete = blobs.has(i)
      if (complete) out.push({ cid: rec.cid, name: rec.name, size: rec.size })
    }
    return out
  }

  /** Drop everything cached of `cid`. */
  async delete (cid: string): Promise<void> {
    this.checkOpen()
    const ref = resolve(cid)
    for (const entry of [...(this.blobs.of(ref.loc)?.values() ?? [])]) void this.drop(entry, false)
    this.records.delete(ref.loc)
    await this.serial(ref.loc, async () => { await rm(join(this.dir, ref.loc), { recursive: true, force: true }) })
  }

  stats (): CacheStats {
    return {
      policy: this.policy,
      bytes: this.blobs.bytes,
      maxBytes: this.maxBytes,
      entries: this.blobs.entries,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
      files: this.files().length
    }
  }

  /** Wait for pending disk operations and forget everything in memory; the blobs stay. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.settle()
    this.records.clear()
    this.memo = undefined
  }

  // --- internals ---

  /** Wait until no disk operation is pending. */
  private async settle (): Promise<void> {
    while (this.queues.size > 0) await Promise.all(this.queues.values())
  }

  private checkOpen (): void {
    if (this.closed) throw new InvalidOptionError('the chunk cache is closed')
  }

  private entry (loc: string, index: number): Entry | undefined {
    return this.blobs.get(loc, index)
  }

  private path (loc: string, index: number): string {
    return join(this.dir, loc, index === MANIFEST_INDEX ? MANIFEST_FILE : `${index}.bin`)
  }

  /** Seal, make room and write blob `index` of `ref` atomically; false if it can never fit. */
  private async store (ref: Ref, index: number, plaintext: Uint8Array): Promise<boolean> {
    const sealed = sealChunk(ref.key, index, plaintext)
    if (sealed.byteLength > this.maxBytes) return false
    this.makeRoom(sealed.byteLength)
    const entry: Entry = { loc: ref.loc, index, size: sealed.byteLength, freq: 0, lastAccess: 0, seq: 0 }
    this.blobs.insert(entry)
    this.blobs.touch(entry)
    const folder = join(this.dir, ref.loc)
    const final = this.path(ref.loc, index)
    try {
      await this.serial(ref.loc, async () => {
        await mkdir(folder, { recursive: true, mode: 0o700 })
        // same folder, so the rename is atomic: a reader or a crash sees the old state or the whole blob.
        // No fsync: a blob torn by a crash fails authentication and is dropped as a miss.
        const tmp = join(folder, `.${randomBytes(8).toString('hex')}${TMP_SUFFIX}`)
        try {
          await writeFile(tmp, sealed, { mode: 0o600, flag: 'wx' })
          await rename(tmp, final)
        } catch (err) {
          await unlink(tmp).catch(() => {})
          throw err
        }
      })
    } catch (err) {
      if (this.entry(entry.loc, entry.index) === entry) void this.drop(entry, false)
      throw err
    }
    return true
  }

  /** The cached manifest of `ref`, decrypted and decoded; not counted as a hit or an access. */
  private async loadManifest (ref: Ref): Promise<{ entry: Entry, bytes: Uint8Array, manifest: Manifest } | undefined> {
    const entry = this.entry(ref.loc, MANIFEST_INDEX)
    if (entry === undefined) return undefined
    const bytes = await this.readBlob(ref, entry)
    if (bytes === undefined) return undefined
    let manifest: Manifest
    if (this.memo?.loc === ref.loc) {
      manifest = this.memo.manifest
    } else {
      try {
        // authenticated with the CID's key, but only what hashes to the CID is its manifest
        if (!equalBytes(sha256(bytes), ref.parsed.multihash.digest)) throw new HashMismatchError('cached manifest does not hash to its CID')
        manifest = decodeManifest(bytes)
      } catch {
        await this.dropBlob(entry)
        return undefined
      }
    }
    this.remember(ref, manifest)
    return { entry, bytes, manifest }
  }

  /** Known by CID now: listable once complete, and its manifest memoized for chunk checks. */
  private remember (ref: Ref, manifest: Manifest): void {
    this.records.set(ref.loc, { cid: ref.cid, name: manifest.name, size: manifest.size, chunks: chunkCount(manifest) })
    this.memo = { loc: ref.loc, manifest }
  }

  /** Read and open blob `entry`; a blob gone or failing authentication is dropped and gives undefined. */
  private async readBlob (ref: Ref, entry: Entry): Promise<Buffer | undefined> {
    const sealed = await this.serial(ref.loc, async () => await readFile(this.path(entry.loc, entry.index))).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
      return undefined
    })
    const plain = sealed === undefined ? undefined : openChunk(ref.key, entry.index, sealed)
    // awaited: a caller told "miss" must not still find the bad blob on disk
    if (plain === undefined) await this.dropBlob(entry)
    return plain
  }

  /** Forget `entry` if still current (a newer blob under the same name is left alone) and delete its file. */
  private async dropBlob (entry: Entry): Promise<void> {
    if (this.entry(entry.loc, entry.index) === entry) await this.drop(entry, false)
  }

  /** Evict until `size` more bytes fit. */
  private makeRoom (size: number): void {
    while (this.blobs.bytes + size > this.maxBytes && this.blobs.entries > 0) {
      const victim = this.blobs.victim()
      if (victim === undefined) break
      void this.drop(victim, true)
    }
  }

  /**
   * Remove `entry` from the accounting at once and its file from disk after
   * pending operations on its folder; the promise settles when the file is gone
   * (callers that need not wait leave it).
   */
  private async drop (entry: Entry, evicted: boolean): Promise<void> {
    const removed = this.blobs.remove(entry)
    if (removed === undefined) return
    if (evicted) this.evictions++
    if (entry.index === MANIFEST_INDEX) {
      this.records.delete(entry.loc)
      if (this.memo?.loc === entry.loc) this.memo = undefined
    }
    const last = removed.last
    const path = this.path(entry.loc, entry.index)
    const folder = join(this.dir, entry.loc)
    await this.serial(entry.loc, async () => {
      await unlink(path).catch(() => {})
      // empty folders would tell how many files were ever cached
      if (last && !this.blobs.hasFile(entry.loc)) await rmdir(folder).catch(() => {})
    }).catch(() => {})
  }

  /** Run `fn` after every earlier operation on folder `loc`. */
  private async serial<T> (loc: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(loc) ?? Promise.resolve()
    const result = prev.then(fn)
    const tail = result.then(() => {}, () => {})
    this.queues.set(loc, tail)
    void tail.then(() => { if (this.queues.get(loc) === tail) this.queues.delete(loc) })
    return await result
  }
}

function resolve (cid: string): Ref {
  const parsed = parseCid(cid)
  const canonical = parsed.toString()
  return { cid: canonical, parsed, loc: locator(canonical), key: cacheKey(canonical) }
}

function checkIndex (index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= MANIFEST_INDEX) {
    throw new InvalidOptionError(`chunk index ${index} is not an integer in [0, ${MANIFEST_INDEX})`)
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}
