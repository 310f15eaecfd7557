/**
 * The persistent index of what this node has: files shared in place (never
 * copied) and partial downloads that survive restarts. One SQLite database in
 * the repo; chunks are read from, and written to, ordinary files.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, rmSync } from 'node:fs'
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname, isAbsolute, join, normalize } from 'node:path'
import { DatabaseSync } from '../sqlite.ts'
import type { StatementSync } from '../sqlite.ts'
import { DEFAULTS, REPO_FILES } from '../config.ts'
import { ContentChangedError, DestinationExistsError, HashMismatchError, InvalidCidError, InvalidManifestError, InvalidOptionError, InvalidPathError, NotFoundError, SedaiError } from '../errors.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import { Bitfield } from './bitfield.ts'
import { buildManifest, chunkCount, chunkHash, chunkLength, decodeManifest, parseCid, readFully, sha256 } from './manifest.ts'
import type { FileStat, Manifest } from './manifest.ts'
import { badChunks, exists, existsError, fileMatches, placeFile, placeVerifiedCopy } from './place.ts'
import type { Destination } from './place.ts'

/** Bump with a migration in `migrate` when the tables change. */
const SCHEMA_VERSION = 2
/** Shared files kept open for serving. */
const OPEN_FILES = 16
/** A shared file is stat'ed at most this often while served (ms); the chunk hash catches changes in between. */
const STAT_INTERVAL_MS = 1000
/** open() errors that mean the shared file is gone or no longer ours to read. */
const GONE = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM'])

export interface SharedFile {
  /** manifest CID, base32 */
  cid: string
  name: string
  /** bytes */
  size: number
  /** absolute path of the file on disk */
  path: string
}

export interface ContentStoreInit {
  /** repo folder; the database is `join(repo, REPO_FILES.database)` */
  repo: string
  /** bytes, for files shared here; default DEFAULTS.chunkSize */
  chunkSize?: number
  logger?: Logger
}

export interface DownloadRecord {
  cid: string
  manifest: Manifest
  manifestBytes: Uint8Array
  /** where the file goes when complete */
  destPath: string
  /** whether a different file at destPath may be replaced (`get --force`) */
  replace: boolean
  /** where chunks are written meanwhile, at `index * chunkSize` */
  tmpPath: string
  /**
   * chunks in tmpPath as last saved: verified and written, or claimed just
   * before their write (the downloader writes ahead); a claim is only trusted
   * after re-verification, which the store runs at start
   */
  have: Bitfield
}

/** What start-up re-verification found in one partial download. */
export interface PartialCheck {
  cid: string
  /** chunks whose bytes on disk match the manifest: never fetched again */
  kept: number
  /** chunks the saved record claimed whose bytes do not match (a cut write, a lost .part): fetched again */
  cleared: number[]
}

export interface StoredManifest {
  manifest: Manifest
  bytes: Uint8Array
}

interface ShareRow extends SharedFile, FileStat {}

interface DownloadRow {
  cid: string
  manifest: Uint8Array
  destPath: string
  replace: number
  have: Uint8Array
}

export class ContentStore {
  private readonly repo: string
  private readonly chunkSize: number
  private readonly log: Logger
  private db?: DatabaseSync
  private statements?: Statements
  /** decoded manifests by CID; a CID's manifest never changes, so entries are only dropped to free memory */
  private readonly manifests = new Map<string, StoredManifest>()
  /** list() between share changes; undefined = read the database again */
  private shareList?: SharedFile[]
  private readonly files = new OpenFiles(OPEN_FILES)
  private starting?: Promise<void>
  /** partial downloads re-hashed since start: what is on disk since then is this process's own writing */
  private readonly verified = new Set<string>()
  private checks: PartialCheck[] = []

  constructor (init: ContentStoreInit) {
    this.repo = init.repo
    this.chunkSize = init.chunkSize ?? DEFAULTS.chunkSize
    this.log = (init.logger ?? silentLogger()).child({ component: 'content-store' })
  }

  /**
   * Opens the database and re-verifies every partial download before
   * anything uses it (a crash may have cut a write short), and removes .part
   * files no download owns any more (a crash right after a completion).
   */
  async start (): Promise<void> {
    this.starting ??= this.openAndRecover().finally(() => { this.starting = undefined })
    await this.starting
  }

  private async openAndRecover (): Promise<void> {
    if (this.db != null) return
    await mkdir(join(this.repo, REPO_FILES.downloads), { recursive: true })
    const path = join(this.repo, REPO_FILES.database)
    const db = new DatabaseSync(path)
    try {
      migrate(db, path)
      this.statements = prepare(db)
    } catch (err) {
      db.close()
      throw err
    }
    this.db = db
    this.log.debug({ path }, 'opened')
    await this.removeStrays()
    this.checks = []
    for (const rec of this.listDownloads()) {
      try {
        const started = performance.now()
        const check = await this.verify(rec.cid)
        this.checks.push(check)
        const fields = { cid: rec.cid, kept: check.kept, cleared: check.cleared.length, clearedChunks: check.cleared.slice(0, 64), ms: Math.round(performance.now() - started) }
        // warn when chunks failed: they are fetched again
        this.log[check.cleared.length > 0 ? 'warn' : 'info'](fields, 'partial download re-verified at start')
      } catch (err: any) {
        // unreadable now (EIO, EACCES): the next get re-verifies it before resuming
        this.log.warn({ cid: rec.cid, err: err.message }, 'partial download could not be re-verified at start')
      }
    }
  }

  /** What start-up re-verification found, one entry per partial download. */
  startupChecks (): PartialCheck[] {
    return this.checks.map(c => ({ ...c, cleared: [...c.cleared] }))
  }

  /** Whether the partial download of `cid` was re-hashed since this store started (resuming it needs no second pass). */
  verifiedSinceStart (cid: string): boolean {
    return this.verified.has(cid)
  }

  /** `.part` files with no download row: left by a crash between a completion's commit and its unlink. */
  private async removeStrays (): Promise<void> {
    const dir = join(this.repo, REPO_FILES.downloads)
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.part')) continue
      const cid = name.slice(0, -'.part'.length)
      if (this.sql.downloadChunks.get(cid) !== undefined) continue
      // unlink, never truncate: the .part may be a hard link of a finished file
      await unlink(join(dir, name)).catch(() => {})
      this.log.info({ cid }, 'removed a .part file no download owns')
    }
  }

  async stop (): Promise<void> {
    if (this.db == null) return
    const db = this.db
    this.db = undefined
    this.statements = undefined
    this.manifests.clear()
    this.verified.clear()
    await this.files.closeAll()
    db.close()
  }

  /** Share the regular file at absolute `path` where it is; an unchanged file already shared is not hashed again. */
  async share (path: string, opts: { signal?: AbortSignal } = {}): Promise<SharedFile> {
    const sql = this.sql
    if (!isAbsolute(path)) {
      throw new InvalidPathError(`${path}: path must be absolute`)
    }
    path = normalize(path)
    const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
      throw new InvalidPathError(`${path}: cannot share (${err.code ?? err.message})`)
    })
    if (!st.isFile()) {
      throw new InvalidPathError(`${path}: not a regular file${st.isDirectory() ? ' (use shareFolder for folders)' : ''}`)
    }
    const row = sql.shareByPath.get(path) as (ShareRow & { stale: number }) | undefined
    if (row !== undefined && row.stale === 0 && sameStat(row, st)) {
      return toShared(row)
    }

    const built = await buildManifest(path, { chunkSize: this.chunkSize, signal: opts.signal })
    const shared = { cid: built.cid.toString(), name: built.manifest.name, size: built.manifest.size, path }
    sql.upsertShare.run(path, shared.cid, shared.name, shared.size, built.stat.mtimeMs, built.stat.ino, built.bytes)
    this.shareList = undefined
    this.manifests.set(shared.cid, { manifest: built.manifest, bytes: built.bytes })
    // a handle may still point at the old file
    void this.files.drop(path)
    if (row !== undefined && row.cid !== shared.cid) this.forget(row.cid)
    this.log.info({ cid: shared.cid, path, size: shared.size }, 'shared')
    return shared
  }

  /** Share every regular file under absolute `dir`, skipping dotfiles, dot-folders and symlinks; unshareable files are logged and skipped. */
  async shareFolder (dir: string, opts: { signal?: AbortSignal } = {}): Promise<SharedFile[]> {
    if (!isAbsolute(dir)) {
      throw new InvalidPathError(`${dir}: path must be absolute`)
    }
    dir = normalize(dir)
    const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
      throw new InvalidPathError(`${dir}: cannot share (${err.code ?? err.message})`)
    })
    if (!st.isDirectory()) {
      throw new InvalidPathError(`${dir}: not a folder`)
    }
    const shared: SharedFile[] = []
    for await (const path of this.walk(dir)) {
      opts.signal?.throwIfAborted()
      try {
        shared.push(await this.share(path, opts))
      } catch (err) {
        // a bad name, a file too large or changing under us should not stop the rest
        if (!(err instanceof InvalidPathError || err instanceof InvalidManifestError || err instanceof ContentChangedError)) throw err
        this.log.warn({ path, err: err.message }, 'skipped')
      }
    }
    return shared
  }

  /** Stop sharing every file with this CID; false if there was none. */
  unshare (cid: string): boolean {
    const sql = this.sql
    const paths = sql.pathsByCid.all(cid) as Array<{ path: string }>
    sql.deleteSharesByCid.run(cid)
    this.shareList = undefined
    for (const { path } of paths) void this.files.drop(path)
    this.forget(cid)
    return paths.length > 0
  }

  /**
   * Shared files, stale ones (changed on disk) left out. Kept in memory
   * between changes: the flooding and supernode modes match every incoming
   * query against it, and a database read per query was most of a daemon's
   * work under a query flood.
   */
  list (): SharedFile[] {
    this.shareList ??= (this.sql.listShares.all() as unknown as SharedFile[]).map(toShared)
    return this.shareList.slice()
  }

  /** Whether a complete, not stale, shared file has this CID. */
  has (cid: string): boolean {
    return this.sql.hasShare.get(cid) !== undefined
  }

  /** The manifest of a shared file, as decoded and as bytes (to send as is). */
  getManifest (cid: string): StoredManifest | undefined {
    return this.has(cid) ? this.cachedManifest(cid) : undefined
  }

  /**
   * Chunk `index` of a shared file, checked against its hash. A file found
   * changed on disk is marked stale (no longer listed or served) and
   * ContentChangedError thrown, unless another copy with the same CID serves.
   */
  async readChunk (cid: string, index: number): Promise<Uint8Array> {
    const rows = this.sql.sharesByCid.all(cid) as unknown as ShareRow[]
    const stored = rows.length > 0 ? this.cachedManifest(cid) : undefined
    if (stored === undefined) {
      throw new NotFoundError(`${cid} is not shared here`)
    }
    const n = chunkCount(stored.manifest)
    if (!Number.isInteger(index) || index < 0 || index >= n) {
      throw new InvalidOptionError(`chunk index ${index} out of range [0, ${n}) of ${cid}`)
    }
    let changed: ContentChangedError | undefined
    for (const row of rows) {
      try {
        return await this.readShared(row, stored.manifest, index)
      } catch (err) {
        if (!(err instanceof ContentChangedError)) throw err
        changed = err
        this.markStale(row, err.message)
      }
    }
    throw changed ?? new NotFoundError(`${cid} is not shared here`)
  }

  private async readShared (row: ShareRow, manifest: Manifest, index: number): Promise<Uint8Array> {
    const file = await this.files.acquire(row.path).catch((err: NodeJS.ErrnoException) => {
      if (GONE.has(err.code ?? '')) throw new ContentChangedError(`${row.path} is gone (${err.code})`)
      throw err
    })
    try {
      if (Date.now() - file.checkedAt >= STAT_INTERVAL_MS) {
        // the path, not the handle: a file replaced by rename keeps the old inode open
        const st = await stat(row.path).catch(() => undefined)
        if (st === undefined || !sameStat(row, st)) {
          throw new ContentChangedError(`${row.path} changed on disk since it was shared`)
        }
        file.checkedAt = Date.now()
      }
      const len = chunkLength(manifest, index)
      // fresh and unpooled: it is handed to the network
      const buf = Buffer.allocUnsafeSlow(len)
      if (await readFully(file.fh, buf, len, index * manifest.chunkSize) !== len) {
        throw new ContentChangedError(`${row.path} is shorter than when it was shared`)
      }
      if (!equalBytes(sha256(buf), chunkHash(manifest, index))) {
        throw new ContentChangedError(`chunk ${index} of ${row.path} no longer matches its hash`)
      }
      return buf
    } finally {
      this.files.release(file)
    }
  }

  private markStale (row: ShareRow, reason: string): void {
    this.sql.markStale.run(row.path)
    this.shareList = undefined
    void this.files.drop(row.path)
    this.forget(row.cid)
    this.log.warn({ cid: row.cid, path: row.path, reason }, 'shared file changed; no longer served')
  }

  /**
   * Start (or find) the partial download of `cid` into `dest` (a path, or a
   * path that may replace a different file), chunks going to a sparse
   * `<repo>/downloads/<cid>.part` meanwhile. `cid` must be the canonical
   * base32 string and `manifestBytes` must hash to it.
   */
  beginDownload (cid: string, manifestBytes: Uint8Array, manifest: Manifest, dest: string | Destination): DownloadRecord {
    const existing = this.getDownload(cid)
    if (existing !== undefined) return existing
    const parsed = parseCid(cid)
    if (parsed.toString() !== cid) {
      throw new InvalidCidError(`${cid}: use the canonical form ${parsed.toString()}`)
    }
    // the stored manifest is served under this CID once complete: never a wrong one
    if (!equalBytes(sha256(manifestBytes), parsed.multihash.digest)) {
      throw new HashMismatchError(`manifest bytes do not hash to ${cid}`)
    }
    const { path: destPath, replace } = destination(dest)
    const tmpPath = this.tmpPath(cid)
    // also replaces a .part left by a crash before its row was written
    createSparse(tmpPath, manifest.size)
    // nothing on disk to distrust: a fresh download counts as verified
    this.verified.add(cid)
    const have = new Bitfield(chunkCount(manifest))
    this.sql.insertDownload.run(cid, manifestBytes, destPath, replace ? 1 : 0, have.length, have.toBytes())
    this.log.info({ cid, destPath, size: manifest.size }, 'download started')
    return { cid, manifest, manifestBytes, destPath, replace, tmpPath, have }
  }

  /** Where a partial download goes when complete: the latest `get` names it. */
  setDestination (cid: string, dest: Destination): void {
    const { path, replace } = destination(dest)
    if (Number(this.sql.updateDestination.run(path, replace ? 1 : 0, cid).changes) === 0) {
      throw new NotFoundError(`no download of ${cid}`)
    }
  }

  /**
   * Put a verified copy of the held file `cid` at `dest` and share it there
   * too: the `get -o` of a file this node already has. Nothing is copied when
   * `dest` already is that file (a shared copy unchanged since, or identical
   * bytes found there); a different file there is replaced only with
   * `dest.replace` (else DestinationExistsError). Undefined, and nothing
   * placed, when no intact local copy is left (each changed one is marked
   * stale): the caller fetches it from the network instead.
   */
  async copyTo (cid: string, dest: Destination, opts: { signal?: AbortSignal } = {}): Promise<SharedFile | undefined> {
    const { path, replace } = destination(dest)
    const stored = this.getManifest(cid)
    if (stored === undefined) return undefined
    const rows = this.sql.sharesByCid.all(cid) as unknown as ShareRow[]
    const here = rows.find(row => row.path === path)
    if (here !== undefined) {
      const st = await stat(path).catch(() => undefined)
      if (st !== undefined && sameStat(here, st)) return toShared(here)
      // changed since it was shared: no longer served, whatever happens to it next
      this.markStale(here, 'changed on disk since it was shared')
    }
    if (await exists(path)) {
      if (await fileMatches(path, stored.manifest, opts.signal)) return await this.adopt(path, cid, stored)
      if (!replace) throw existsError(path)
    }
    await mkdir(dirname(path), { recursive: true })
    for (const row of rows) {
      if (row.path === path) continue
      if (await placeVerifiedCopy(row.path, path, stored.manifest, replace, opts.signal)) {
        return await this.adopt(path, cid, stored)
      }
      this.markStale(row, 'a copy of it failed verification')
    }
    return undefined
  }

  /** Share the file at `path`, known to be `cid`'s content, without hashing it again. */
  private async adopt (path: string, cid: string, stored: StoredManifest): Promise<SharedFile> {
    const st = await stat(path)
    this.sql.upsertShare.run(path, cid, stored.manifest.name, stored.manifest.size, st.mtimeMs, st.ino, stored.bytes)
    this.shareList = undefined
    void this.files.drop(path)
    this.log.info({ cid, path }, 'placed a copy of a held file')
    return { cid, name: stored.manifest.name, size: stored.manifest.size, path }
  }

  getDownload (cid: string): DownloadRecord | undefined {
    const row = this.sql.downloadByCid.get(cid) as unknown as DownloadRow | undefined
    return row === undefined ? undefined : this.toRecord(row)
  }

  listDownloads (): DownloadRecord[] {
    return (this.sql.listDownloads.all() as unknown as DownloadRow[]).map(row => this.toRecord(row))
  }

  /**
   * Persist which chunks are in the .part file: written, or claimed just
   * before the write. One small UPDATE (the row's other bytes are unchanged,
   * so SQLite rewrites only the page holding the bitfield); committed, it
   * survives a SIGKILL of this process, being in the OS's cache.
   */
  saveProgress (cid: string, have: Bitfield): void {
    const row = this.sql.downloadChunks.get(cid) as { chunks: number } | undefined
    if (row === undefined) {
      throw new NotFoundError(`no download of ${cid}`)
    }
    if (have.length !== row.chunks) {
      throw new InvalidOptionError(`bitfield of ${have.length} chunks for a download of ${row.chunks}`)
    }
    this.sql.updateHave.run(have.toBytes(), cid)
  }

  /**
   * Move a complete download to its destination (over an existing different
   * file only if the record says `replace`; identical bytes already there
   * are kept) and share it there, reusing the manifest instead of hashing again.
   * Before that the whole .part file is re-hashed, chunk by chunk, against
   * the manifest, whose bytes are checked against the CID: the CID covers
   * the manifest and the manifest's hashes cover every byte, so this is the
   * whole-file check. Chunks that fail are cleared (fetched again on the next
   * get) and HashMismatchError thrown; nothing is placed.
   */
  async completeDownload (cid: string, opts: { signal?: AbortSignal } = {}): Promise<SharedFile> {
    const rec = this.getDownload(cid)
    if (rec === undefined) {
      throw new NotFoundError(`no download of ${cid}`)
    }
    if (!rec.have.isComplete()) {
      throw new InvalidOptionError(`download of ${cid} is not complete: ${rec.have.count()}/${rec.have.length} chunks`)
    }
    if (!equalBytes(sha256(rec.manifestBytes), parseCid(cid).multihash.digest)) {
      throw new HashMismatchError(`the stored manifest of ${cid} no longer hashes to it`)
    }
    opts.signal?.throwIfAborted()
    const fh = await open(rec.tmpPath, 'r+')
    let bad: number[]
    try {
      if ((await fh.stat()).size !== rec.manifest.size) {
        throw new ContentChangedError(`${rec.tmpPath} is not ${rec.manifest.size} bytes`)
      }
      await fh.sync()
      bad = await badChunks(fh, rec.manifest, rec.have, opts.signal)
    } finally {
      await fh.close()
    }
    if (bad.length > 0) {
      for (const i of bad) rec.have.clear(i)
      this.saveProgress(cid, rec.have)
      this.log.warn({ cid, bad: bad.length, badChunks: bad.slice(0, 64) }, 'complete download failed re-verification; not placed')
      throw new HashMismatchError(`${bad.length} chunk(s) of ${cid} on disk do not match the manifest (first: ${bad[0]}); they are fetched again on the next get`)
    }
    await mkdir(dirname(rec.destPath), { recursive: true })
    // placed, committed, then the .part unlinked: a crash between any two
    // steps leaves the download resumable or the file shared, never both lost
    await placeFile(rec.tmpPath, rec.destPath, rec.replace).catch(async (err) => {
      // someone put the same bytes there meanwhile: that is the file asked for
      if (!(err instanceof DestinationExistsError) || !await fileMatches(rec.destPath, rec.manifest, opts.signal)) throw err
    })
    const st = await stat(rec.destPath)

    const sql = this.sql
    sql.begin.run()
    try {
      sql.upsertShare.run(rec.destPath, cid, rec.manifest.name, rec.manifest.size, st.mtimeMs, st.ino, rec.manifestBytes)
      sql.deleteDownload.run(cid)
      sql.commit.run()
      this.shareList = undefined
    } catch (err) {
      sql.rollback.run()
      throw err
    }
    this.verified.delete(cid)
    await unlink(rec.tmpPath).catch((err: NodeJS.ErrnoException) => {
      // removed at the next start otherwise
      this.log.warn({ cid, err: err.code ?? err.message }, 'could not remove the .part file')
    })
    void this.files.drop(rec.destPath)
    this.log.info({ cid, path: rec.destPath }, 'download complete')
    return { cid, name: rec.manifest.name, size: rec.manifest.size, path: rec.destPath }
  }

  /** Forget a download and delete its .part file. */
  abortDownload (cid: string): void {
    this.sql.deleteDownload.run(cid)
    this.verified.delete(cid)
    rmSync(this.tmpPath(cid), { force: true })
    this.forget(cid)
  }

  /**
   * Re-hash every chunk the saved bitfield says is in the .part file (after a
   * crash, or before trusting an old one); clear and save the ones that fail.
   * Returns how many were cleared.
   */
  async verifyPartial (cid: string): Promise<number> {
    return (await this.verify(cid)).cleared.length
  }

  private async verify (cid: string): Promise<PartialCheck> {
    const rec = this.getDownload(cid)
    if (rec === undefined) {
      throw new NotFoundError(`no download of ${cid}`)
    }
    const { manifest, have } = rec
    const fh = await open(rec.tmpPath, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
      return undefined
    })
    let cleared: number[]
    if (fh === undefined) {
      // the .part file is gone: start over in a new one
      cleared = []
      for (let i = 0; i < have.length; i++) if (have.get(i)) cleared.push(i)
      createSparse(rec.tmpPath, manifest.size)
      this.saveProgress(cid, new Bitfield(have.length))
      this.verified.add(cid)
      return { cid, kept: 0, cleared }
    }
    try {
      cleared = await badChunks(fh, manifest, have)
    } finally {
      await fh.close()
    }
    if (cleared.length > 0) {
      for (const i of cleared) have.clear(i)
      this.saveProgress(cid, have)
      this.log.warn({ cid, cleared: cleared.length }, 'partial download had bad chunks')
    }
    this.verified.add(cid)
    return { cid, kept: have.count(), cleared }
  }

  private get sql (): Statements {
    if (this.statements === undefined) {
      throw new SedaiError('content store is not started')
    }
    return this.statements
  }

  private tmpPath (cid: string): string {
    return join(this.repo, REPO_FILES.downloads, `${cid}.part`)
  }

  private toRecord (row: DownloadRow): DownloadRecord {
    const { manifest } = this.cachedManifest(row.cid, row.manifest)
    return {
      cid: row.cid,
      manifest,
      manifestBytes: row.manifest,
      destPath: row.destPath,
      replace: row.replace === 1,
      tmpPath: this.tmpPath(row.cid),
      have: new Bitfield(chunkCount(manifest), row.have)
    }
  }

  /** Decode once per CID; `bytes` when the caller has them, else from a live share. */
  private cachedManifest (cid: string, bytes?: Uint8Array): StoredManifest {
    let stored = this.manifests.get(cid)
    if (stored === undefined) {
      bytes ??= (this.sql.manifestByCid.get(cid) as { manifest: Uint8Array } | undefined)?.manifest
      if (bytes === undefined) {
        throw new NotFoundError(`no manifest for ${cid}`)
      }
      stored = { manifest: decodeManifest(bytes), bytes }
      this.manifests.set(cid, stored)
    }
    return stored
  }

  /** Drop a cached manifest nothing live uses any more. */
  private forget (cid: string): void {
    if (!this.has(cid) && this.sql.downloadChunks.get(cid) === undefined) {
      this.manifests.delete(cid)
    }
  }

  /** Regular files under `dir`, depth first in name order; dot entries and symlinks are not followed. */
  private async * walk (dir: string): AsyncGenerator<string> {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EACCES' && code !== 'EPERM') throw err
      this.log.warn({ path: dir, err: code }, 'skipped unreadable folder')
      return
    }
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.isSymbolicLink()) continue
      const path = join(dir, entry.name)
      if (entry.isDirectory()) yield * this.walk(path)
      else if (entry.isFile()) yield path
    }
  }
}

function migrate (db: DatabaseSync, path: string): void {
  db.exec('PRAGMA journal_mode = WAL')
  // WAL + NORMAL: a power cut may lose the last commits, never corrupts; progress is re-verified anyway
  db.exec('PRAGMA synchronous = NORMAL')
  db.exec('PRAGMA busy_timeout = 5000')
  const { user_version: version } = db.prepare('PRAGMA user_version').get() as { user_version: number }
  if (version > SCHEMA_VERSION) {
    throw new SedaiError(`${path} has schema version ${version}; this sedai knows up to ${SCHEMA_VERSION}`)
  }
  if (version < 1) {
    // mtime_ms and ino are REAL: stored exactly as node's stat gives them, compared as is
    db.exec(`
      BEGIN;
      CREATE TABLE shares (
        path TEXT PRIMARY KEY,
        cid TEXT NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ms REAL NOT NULL,
        ino REAL NOT NULL,
        manifest BLOB NOT NULL,
        stale INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX shares_cid ON shares (cid);
      CREATE TABLE downloads (
        cid TEXT PRIMARY KEY,
        manifest BLOB NOT NULL,
        dest_path TEXT NOT NULL,
        chunks INTEGER NOT NULL,
        have BLOB NOT NULL
      );
      PRAGMA user_version = 1;
      COMMIT;
    `)
  }
  if (version < 2) {
    // `get --force`: the finished file may replace a different one at dest_path
    db.exec(`
      BEGIN;
      ALTER TABLE downloads ADD COLUMN replace_dest INTEGER NOT NULL DEFAULT 0;
      PRAGMA user_version = 2;
      COMMIT;
    `)
  }
}

type Statements = ReturnType<typeof prepare>

/** Every statement of the store, prepared once. */
function prepare (db: DatabaseSync) {
  const s = (sql: string): StatementSync => db.prepare(sql)
  const shareColumns = 'cid, name, size, path, mtime_ms AS mtimeMs, ino'
  return {
    shareByPath: s(`SELECT ${shareColumns}, stale FROM shares WHERE path = ?`),
    sharesByCid: s(`SELECT ${shareColumns} FROM shares WHERE cid = ? AND stale = 0 ORDER BY rowid`),
    listShares: s('SELECT cid, name, size, path FROM shares WHERE stale = 0 ORDER BY path'),
    hasShare: s('SELECT 1 FROM shares WHERE cid = ? AND stale = 0 LIMIT 1'),
    manifestByCid: s('SELECT manifest FROM shares WHERE cid = ? AND stale = 0 LIMIT 1'),
    pathsByCid: s('SELECT path FROM shares WHERE cid = ?'),
    upsertShare: s(`INSERT INTO shares (path, cid, name, size, mtime_ms, ino, manifest) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (path) DO UPDATE SET cid = excluded.cid, name = excluded.name, size = excluded.size,
        mtime_ms = excluded.mtime_ms, ino = excluded.ino, manifest = excluded.manifest, stale = 0`),
    markStale: s('UPDATE shares SET stale = 1 WHERE path = ?'),
    deleteSharesByCid: s('DELETE FROM shares WHERE cid = ?'),
    downloadByCid: s('SELECT cid, manifest, dest_path AS destPath, replace_dest AS replace, have FROM downloads WHERE cid = ?'),
    listDownloads: s('SELECT cid, manifest, dest_path AS destPath, replace_dest AS replace, have FROM downloads ORDER BY rowid'),
    downloadChunks: s('SELECT chunks FROM downloads WHERE cid = ?'),
    insertDownload: s('INSERT INTO downloads (cid, manifest, dest_path, replace_dest, chunks, have) VALUES (?, ?, ?, ?, ?, ?)'),
    updateDestination: s('UPDATE downloads SET dest_path = ?, replace_dest = ? WHERE cid = ?'),
    updateHave: s('UPDATE downloads SET have = ? WHERE cid = ?'),
    deleteDownload: s('DELETE FROM downloads WHERE cid = ?'),
    begin: s('BEGIN'),
    commit: s('COMMIT'),
    rollback: s('ROLLBACK')
  }
}

/** An empty (sparse) file of `size` bytes at `path`, replacing any file there. */
function createSparse (path: string, size: number): void {
  mkdirSync(dirname(path), { recursive: true })
  // unlinked, not truncated: an old .part may be a hard link of a finished download
  rmSync(path, { force: true })
  const fd = openSync(path, 'wx')
  try {
    ftruncateSync(fd, size)
  } finally {
    closeSync(fd)
  }
}

function sameStat (a: FileStat, b: FileStat): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino
}

function toShared (row: SharedFile): SharedFile {
  return { cid: row.cid, name: row.name, size: row.size, path: row.path }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

/** A destination as given (a path: no replacing), checked absolute and normalised. */
function destination (dest: string | Destination): Destination {
  const { path, replace } = typeof dest === 'string' ? { path: dest, replace: false } : dest
  if (!isAbsolute(path)) {
    throw new InvalidPathError(`${path}: path must be absolute`)
  }
  return { path: normalize(path), replace }
}

interface OpenFile {
  fh: FileHandle
  /** when the path was last stat'ed against the share row (ms) */
  checkedAt: number
  users: number
  retired: boolean
}

/**
 * A few read handles of shared files, least recently used closed first, so
 * serving does not open and close the file for every chunk. A handle dropped
 * while a read uses it is closed when that read releases it.
 */
class OpenFiles {
  private readonly max: number
  private readonly files = new Map<string, Promise<OpenFile>>()

  constructor (max: number) {
    this.max = max
  }

  async acquire (path: string): Promise<OpenFile> {
    let opening = this.files.get(path)
    if (opening === undefined) {
      const p = open(path, 'r').then(fh => ({ fh, checkedAt: 0, users: 0, retired: false }))
      // a failed open is not kept
      p.catch(() => { if (this.files.get(path) === p) this.files.delete(path) })
      this.files.set(path, p)
      opening = p
      for (const old of this.files.keys()) {
        if (this.files.size <= this.max) break
        void this.drop(old)
      }
    } else {
      // Map order is age: move to newest
      this.files.delete(path)
      this.files.set(path, opening)
    }
    const file = await opening
    if (file.retired) return await this.acquire(path)
    file.users++
    return file
  }

  release (file: OpenFile): void {
    if (--file.users === 0 && file.retired) void close(file)
  }

  async drop (path: string): Promise<void> {
    const opening = this.files.get(path)
    if (opening === undefined) return
    this.files.delete(path)
    const file = await opening.catch(() => undefined)
    if (file === undefined) return
    file.retired = true
    if (file.users === 0) await close(file)
  }

  async closeAll (): Promise<void> {
    await Promise.all([...this.files.keys()].map(async path => { await this.drop(path) }))
  }
}

async function close (file: OpenFile): Promise<void> {
  await file.fh.close().catch(() => {})
}
