/**
 * The directory's index: who shares what, in one SQLite database with an FTS5
 * table over the file names (terms.ts prepares the text).
 *
 * Ranking without scanning every match: FTS5 returns matches in rowid order
 * and stops after LIMIT, so the FTS rowid *is* the rank. It is
 * `(RANK_LEVELS - providers) * 2^32 + fileId`: the file with the most providers
 * comes first, ties broken by age (oldest first). When a file gains or loses a
 * provider its FTS row is moved to the new key (delete + insert), so the order
 * is kept at write time and a search reads only the rows it returns.
 * `ORDER BY rank` (BM25) would rank every match: about 20 queries/s over 10^5
 * matches, against thousands per second here.
 */
import { DatabaseSync } from '@sedai/core/sqlite'
import type { StatementSync } from '@sedai/core/sqlite'
import { SedaiError } from '@sedai/core/errors'
import { PeerLimitError } from './errors.ts'
import { indexText } from './terms.ts'
import type { FileTuple, SearchHitTuple } from './messages.ts'

const SCHEMA_VERSION = 1
/** providers counts above this rank alike */
export const RANK_LEVELS = 2 ** 20
const ID_SPAN = 2 ** 32
/** the biggest file id: ids are the low 32 bits of the rank key */
const MAX_FILE_ID = ID_SPAN - 1

export function rankKey (providers: number, fileId: number): number {
  return (RANK_LEVELS - Math.min(providers, RANK_LEVELS - 1)) * ID_SPAN + fileId
}

/** A peer as the index remembers it. */
export interface PeerRecord {
  row: number
  peerId: string
  addrs: string[]
  /** digest of the peer's list as last completed, or null while a sync is incomplete */
  digest: string | null
  files: number
}

interface Statements {
  insertPeer: StatementSync
  updateAddrs: StatementSync
  updateDigest: StatementSync
  updatePeerFiles: StatementSync
  deletePeer: StatementSync
  upsertFile: StatementSync
  setProviders: StatementSync
  providerRows: StatementSync
  deleteFile: StatementSync
  insertShare: StatementSync
  deleteShare: StatementSync
  sharesOfPeer: StatementSync
  filesOfPeerByCid: StatementSync
  insertName: StatementSync
  deleteName: StatementSync
  searchIds: StatementSync
  search: StatementSync
  lookup: StatementSync
  lookupCount: StatementSync
  browse: StatementSync
  merge: StatementSync
  segments: StatementSync
}

export interface SearchRows {
  /** the hits as a UTF-8 JSON list of SearchHitTuple, best first */
  json: Uint8Array
  count: number
  /** peer rows named in the hits */
  peers: number[]
}

/** A file as search replies carry it, encoded once: its SearchHitTuple in JSON, and its provider rows. */
interface Hit { json: Uint8Array, peers: number[] }

const encoder = new TextEncoder()
const OPEN = encoder.encode('[')
const COMMA = encoder.encode(',')
const CLOSE = encoder.encode(']')

/** The index. Every method is synchronous (node:sqlite); writes are one transaction each. */
export class DirectoryIndex {
  readonly path: string
  private readonly db: DatabaseSync
  private readonly sql: Statements
  private readonly peersById = new Map<string, PeerRecord>()
  private readonly peersByRow = new Map<number, PeerRecord>()
  private fileCount = 0
  private shareCount = 0
  /** bumps on every change that can alter a search reply */
  generation = 0
  /** writes since the index was last merged into one segment; 1 at open, as an earlier process may have left it unmerged */
  private dirty = 1
  /** time of the last write (performance.now()) */
  private lastWrite = 0
  /** provider rows kept with each file for search replies */
  private readonly perHit: number
  /**
   * Files as search replies carry them, by file id, so a search reads only
   * FTS5's rank-ordered rowids (no join, no row decoding) when its files are
   * here: popular searches return the same top-ranked files. Dropped when the
   * file's providers change; the oldest entry goes first when full.
   */
  private readonly hits = new Map<number, Hit>()
  private readonly maxHits: number
  readonly hitCounts = { hits: 0, misses: 0 }

  constructor (path: string, opts: { providersPerHit?: number, hitCacheEntries?: number } = {}) {
    this.path = path
    this.perHit = opts.providersPerHit ?? 8
    this.maxHits = opts.hitCacheEntries ?? 20_000
    const db = new DatabaseSync(path)
    try {
      migrate(db)
      this.sql = prepare(db)
    } catch (err) {
      db.close()
      throw err
    }
    this.db = db
    for (const row of db.prepare('SELECT id, peer_id, addrs, digest, files FROM peers').all() as any[]) {
      const peer: PeerRecord = { row: row.id, peerId: row.peer_id, addrs: JSON.parse(row.addrs), digest: row.digest, files: row.files }
      this.peersById.set(peer.peerId, peer)
      this.peersByRow.set(peer.row, peer)
    }
    this.fileCount = (db.prepare('SELECT count(*) AS n FROM files').get() as any).n
    this.shareCount = (db.prepare('SELECT count(*) AS n FROM shares').get() as any).n
  }

  close (): void {
    if (this.db.isOpen) this.db.close()
  }

  get files (): number { return this.fileCount }
  /** files in the hit cache now */
  get cachedHits (): number { return this.hits.size }
  get shares (): number { return this.shareCount }
  get peerCount (): number { return this.peersById.size }

  peer (peerId: string): PeerRecord | undefined {
    return this.peersById.get(peerId)
  }

  peerByRow (row: number): PeerRecord | undefined {
    return this.peersByRow.get(row)
  }

  peers (): IterableIterator<PeerRecord> {
    return this.peersById.values()
  }

  /** The peer's record, created (with no files) if new; its addresses replaced when given. */
  upsertPeer (peerId: string, addrs?: string[]): PeerRecord {
    let peer = this.peersById.get(peerId)
    if (peer === undefined) {
      const row = Number((this.sql.insertPeer.get(peerId, JSON.stringify(addrs ?? [])) as any).id)
      peer = { row, peerId, addrs: addrs ?? [], digest: null, files: 0 }
      this.peersById.set(peerId, peer)
      this.peersByRow.set(row, peer)
    } else if (addrs !== undefined && !sameList(addrs, peer.addrs)) {
      this.sql.updateAddrs.run(JSON.stringify(addrs), peer.row)
      peer.addrs = addrs
      this.generation++
    }
    return peer
  }

  setDigest (peer: PeerRecord, digest: string | null): void {
    if (peer.digest === digest) return
    this.sql.updateDigest.run(digest, peer.row)
    peer.digest = digest
  }

  /**
   * Adds `files` to the peer's list (after emptying it when `reset`), in one
   * transaction. Files it already lists are skipped. Throws PeerLimitError,
   * changing nothing, when the peer would pass `maxFilesPerPeer`.
   */
  register (peer: PeerRecord, files: FileTuple[], opts: { reset?: boolean, maxFilesPerPeer: number }): { added: number } {
    let added = 0
    this.transaction(() => {
      if (opts.reset === true) this.clearPeer(peer)
      if (peer.files + files.length > opts.maxFilesPerPeer) {
        // duplicates may make it fit: count what is really new before refusing
        const fresh = files.filter(([cid, name, size]) => !this.peerHas(peer, cid, name, size)).length
        if (peer.files + fresh > opts.maxFilesPerPeer) {
          throw new PeerLimitError(`a peer may register at most ${opts.maxFilesPerPeer} files (${peer.files} registered, ${fresh} more sent)`)
        }
      }
      for (const [cid, name, size] of files) {
        const file = this.sql.upsertFile.get(cid, name, size) as { id: number, providers: number, peers: string }
        if (file.id > MAX_FILE_ID) throw new SedaiError('file id space exhausted')
        if (this.sql.insertShare.run(file.id, peer.row).changes === 0) continue
        added++
        const peers = file.providers >= this.perHit ? file.peers : file.peers === '' ? String(peer.row) : `${file.peers},${peer.row}`
        this.setProviders(file.id, name, file.providers, file.providers + 1, peers)
      }
      if (added > 0 || opts.reset === true) {
        peer.files += added
        this.sql.updatePeerFiles.run(peer.files, peer.row)
      }
    })
    return { added }
  }

  private peerHas (peer: PeerRecord, cid: string, name: string, size: number): boolean {
    return (this.sql.filesOfPeerByCid.all(peer.row, cid) as any[]).some(f => f.name === name && f.size === size)
  }

  /** Removes the peer's entries for these CIDs (whatever the names), in one transaction. */
  unregister (peer: PeerRecord, cids: string[]): { removed: number } {
    let removed = 0
    this.transaction(() => {
      for (const cid of cids) {
        for (const f of this.sql.filesOfPeerByCid.all(peer.row, cid) as any[]) {
          this.dropShare(f, peer.row)
          removed++
        }
      }
      if (removed > 0) {
        peer.files -= removed
        this.sql.updatePeerFiles.run(peer.files, peer.row)
      }
    })
    return { removed }
  }

  /**
   * Removes up to `batch` of the peer's entries, in one transaction; the peer
   * itself goes with its last entry. Returns how many entries are left, so a
   * caller can spread a large removal over several turns of the event loop.
   */
  removePeer (peer: PeerRecord, batch = 2_000): number {
    let left = 0
    this.transaction(() => {
      const rows = this.sql.sharesOfPeer.all(peer.row, 0, batch) as any[]
      for (const f of rows) this.dropShare(f, peer.row)
      peer.files = Math.max(0, peer.files - rows.length)
      if (rows.length < batch || peer.files === 0) {
        this.sql.deletePeer.run(peer.row)
        this.peersById.delete(peer.peerId)
        this.peersByRow.delete(peer.row)
        this.generation++
      } else {
        this.sql.updatePeerFiles.run(peer.files, peer.row)
        left = peer.files
      }
    })
    return left
  }

  private clearPeer (peer: PeerRecord): void {
    while (true) {
      const rows = this.sql.sharesOfPeer.all(peer.row, 0, 10_000) as any[]
      for (const f of rows) this.dropShare(f, peer.row)
      if (rows.length < 10_000) break
    }
    peer.files = 0
  }

  private dropShare (f: { id: number, name: string, providers: number, peers: string }, row: number): void {
    this.sql.deleteShare.run(f.id, row)
    const listed = f.peers.split(',').includes(String(row))
    const peers = listed ? ((this.sql.providerRows.get(f.id, this.perHit) as { peers: string | null }).peers ?? '') : f.peers
    this.setProviders(f.id, f.name, f.providers, f.providers - 1, peers)
  }

  /** Moves a file to the rank of its new providers count (or drops it at 0). */
  private setProviders (fileId: number, name: string, before: number, after: number, peers: string): void {
    this.dirty++
    this.lastWrite = performance.now()
    this.generation++
    this.hits.delete(fileId)
    if (before > 0) this.sql.deleteName.run(rankKey(before, fileId))
    this.shareCount += Math.max(after, 0) - before
    if (after <= 0) {
      this.sql.deleteFile.run(fileId)
      this.fileCount--
      return
    }
    if (before === 0) this.fileCount++
    this.sql.setProviders.run(after, peers, fileId)
    this.sql.insertName.run(rankKey(after, fileId), indexText(name))
  }

  /**
   * The best `max` matches of an FTS5 expression, with up to `providersPerHit`
   * provider rows each: the rank-ordered file ids first, then the files from
   * the hit cache, or, when one is missing, all of them in one join.
   */
  search (match: string, max: number): SearchRows {
    if (this.maxHits === 0) return this.searchJoined(match, max)
    const ids = this.sql.searchIds.all(match, max) as unknown as Array<[number]>
    const hits: Hit[] = []
    for (const [id] of ids) {
      const hit = this.hits.get(id)
      if (hit === undefined) break
      hits.push(hit)
    }
    if (hits.length < ids.length) {
      this.hitCounts.misses++
      hits.length = 0
      for (const [id, cid, name, size, providers, list] of this.sql.search.all(match, max) as unknown as Array<[number, string, string, number, number, string]>) {
        const rows = list === '' ? [] : list.split(',').map(Number)
        const hit = { json: encoder.encode(JSON.stringify([cid, name, size, providers, rows])), peers: rows }
        if (this.maxHits > 0) {
          if (this.hits.size >= this.maxHits) this.hits.delete(this.hits.keys().next().value as number)
          this.hits.set(id, hit)
        }
        hits.push(hit)
      }
    } else if (ids.length > 0) {
      this.hitCounts.hits++
    }
    let length = OPEN.byteLength + CLOSE.byteLength + Math.max(0, hits.length - 1) * COMMA.byteLength
    for (const h of hits) length += h.json.byteLength
    const json = new Uint8Array(length)
    json.set(OPEN, 0)
    let at = OPEN.byteLength
    const peers = new Set<number>()
    for (let i = 0; i < hits.length; i++) {
      if (i > 0) { json.set(COMMA, at); at += COMMA.byteLength }
      json.set(hits[i].json, at)
      at += hits[i].json.byteLength
      for (const p of hits[i].peers) peers.add(p)
    }
    json.set(CLOSE, at)
    return { json, count: hits.length, peers: [...peers] }
  }

  /**
   * `search` with the hit cache off: the join alone (reading the rank-ordered
   * ids first would only run FTS5 twice) and the reply's list stringified
   * once, not hit by hit.
   */
  private searchJoined (match: string, max: number): SearchRows {
    const tuples: SearchHitTuple[] = []
    const peers = new Set<number>()
    for (const [, cid, name, size, providers, list] of this.sql.search.all(match, max) as unknown as Array<[number, string, string, number, number, string]>) {
      const rows = list === '' ? [] : list.split(',').map(Number)
      for (const p of rows) peers.add(p)
      tuples.push([cid, name, size, providers, rows])
    }
    return { json: encoder.encode(JSON.stringify(tuples)), count: tuples.length, peers: [...peers] }
  }

  /** `search` decoded: the hit tuples (for local callers and tests). */
  searchHits (match: string, max: number): SearchHitTuple[] {
    return JSON.parse(new TextDecoder().decode(this.search(match, max).json))
  }

  /** Peer rows sharing `cid` (under any name), at most `max`, and how many there are in all. */
  lookup (cid: string, max: number): { peers: number[], count: number } {
    const rows = this.sql.lookup.all(cid, max) as unknown as Array<[number]>
    const count = (this.sql.lookupCount.get(cid) as unknown as [number | null])[0] ?? 0
    return { peers: rows.map(r => r[0]), count: Math.max(count, rows.length) }
  }

  /** A page of a peer's list, in registration order. */
  browse (peer: PeerRecord, offset: number, max: number): FileTuple[] {
    return this.sql.browse.all(peer.row, max, offset) as unknown as FileTuple[]
  }

  /**
   * One bounded step of FTS5 segment merging (`pages` pages written at most).
   * Every write batch leaves a new segment, and a term's matches are then
   * spread over all of them: an AND of two common words over 10^6 names ran
   * 5x slower on 16 segments than on one. While writes keep coming, segments
   * of the same level are merged (amortised, as FTS5's automerge); once
   * writes have been quiet for `quietMs`, everything is merged into one
   * segment (an incremental 'optimize'). Returns true when there is more to do.
   */
  maintain (opts: { pages?: number, quietMs?: number } = {}): boolean {
    if (this.dirty === 0) return false
    const pages = opts.pages ?? 256
    const quiet = performance.now() - this.lastWrite >= (opts.quietMs ?? 0)
    const before = this.totalChanges()
    // negative: merge every segment, whatever its level
    this.sql.merge.run(quiet ? -pages : pages)
    const worked = this.totalChanges() - before > 1
    // nothing left to merge into one segment: clean until the next write
    if (!worked && quiet) this.dirty = 0
    return worked
  }

  /** FTS5 segments in the index now (1 when fully merged). */
  segments (): number {
    return (this.sql.segments.get() as { n: number }).n
  }

  /** Merges every FTS5 segment into one (blocks; for after a bulk load). */
  optimize (): void {
    this.db.exec("INSERT INTO names(names) VALUES('optimize')")
    this.dirty = 0
  }

  private totalChanges (): number {
    return (this.db.prepare('SELECT total_changes() AS n').get() as any).n
  }

  private transaction (fn: () => void): void {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      fn()
      this.db.exec('COMMIT')
    } catch (err) {
      this.db.exec('ROLLBACK')
      // the in-memory mirror may be ahead of the rolled-back rows: reload it
      this.reloadCounts()
      throw err
    }
  }

  private reloadCounts (): void {
    this.fileCount = (this.db.prepare('SELECT count(*) AS n FROM files').get() as any).n
    this.shareCount = (this.db.prepare('SELECT count(*) AS n FROM shares').get() as any).n
    for (const peer of this.peersById.values()) {
      const row = this.db.prepare('SELECT files, digest FROM peers WHERE id = ?').get(peer.row) as any
      if (row === undefined) {
        this.peersById.delete(peer.peerId)
        this.peersByRow.delete(peer.row)
      } else {
        peer.files = row.files
        peer.digest = row.digest
      }
    }
  }
}

function sameList (a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function migrate (db: DatabaseSync): void {
  db.exec('PRAGMA journal_mode = WAL')
  // a process crash loses nothing committed; an OS crash may lose the last transactions
  db.exec('PRAGMA synchronous = NORMAL')
  db.exec('PRAGMA foreign_keys = OFF')
  db.exec('PRAGMA cache_size = -65536') // 64 MiB
  db.exec('PRAGMA temp_store = MEMORY')
  const version = (db.prepare('PRAGMA user_version').get() as any).user_version as number
  if (version === SCHEMA_VERSION) return
  if (version !== 0) throw new SedaiError(`directory database has schema ${version}; this build knows ${SCHEMA_VERSION}`)
  db.exec(`
    BEGIN;
    CREATE TABLE peers (
      id INTEGER PRIMARY KEY,
      peer_id TEXT NOT NULL UNIQUE,
      addrs TEXT NOT NULL,
      digest TEXT,
      files INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE files (
      id INTEGER PRIMARY KEY,
      cid TEXT NOT NULL,
      name TEXT NOT NULL,
      size INTEGER NOT NULL,
      providers INTEGER NOT NULL,
      -- up to providersPerHit peer rows, comma-separated: search replies read them with the file
      peers TEXT NOT NULL DEFAULT '',
      UNIQUE (cid, name, size)
    );
    CREATE TABLE shares (
      file INTEGER NOT NULL,
      peer INTEGER NOT NULL,
      PRIMARY KEY (file, peer)
    ) WITHOUT ROWID;
    CREATE INDEX shares_by_peer ON shares (peer, file);
    CREATE VIRTUAL TABLE names USING fts5 (terms, content = '', contentless_delete = 1, tokenize = 'unicode61');
    PRAGMA user_version = ${SCHEMA_VERSION};
    COMMIT;
  `)
}

function prepare (db: DatabaseSync): Statements {
  const arrays = (s: StatementSync): StatementSync => { s.setReturnArrays(true); return s }
  return {
    insertPeer: db.prepare('INSERT INTO peers (peer_id, addrs) VALUES (?, ?) RETURNING id'),
    updateAddrs: db.prepare('UPDATE peers SET addrs = ? WHERE id = ?'),
    updateDigest: db.prepare('UPDATE peers SET digest = ? WHERE id = ?'),
    updatePeerFiles: db.prepare('UPDATE peers SET files = ? WHERE id = ?'),
    deletePeer: db.prepare('DELETE FROM peers WHERE id = ?'),
    // the no-op update makes RETURNING give the row whether it was inserted or already there
    upsertFile: db.prepare('INSERT INTO files (cid, name, size, providers) VALUES (?, ?, ?, 0) ON CONFLICT (cid, name, size) DO UPDATE SET providers = providers RETURNING id, providers, peers'),
    setProviders: db.prepare('UPDATE files SET providers = ?, peers = ? WHERE id = ?'),
    providerRows: db.prepare('SELECT group_concat(peer) AS peers FROM (SELECT peer FROM shares WHERE file = ? LIMIT ?)'),
    deleteFile: db.prepare('DELETE FROM files WHERE id = ?'),
    insertShare: db.prepare('INSERT OR IGNORE INTO shares (file, peer) VALUES (?, ?)'),
    deleteShare: db.prepare('DELETE FROM shares WHERE file = ? AND peer = ?'),
    sharesOfPeer: db.prepare('SELECT f.id, f.name, f.providers, f.peers FROM shares s JOIN files f ON f.id = s.file WHERE s.peer = ? AND s.file > ? ORDER BY s.file LIMIT ?'),
    filesOfPeerByCid: db.prepare('SELECT f.id, f.name, f.size, f.providers, f.peers FROM files f JOIN shares s ON s.file = f.id AND s.peer = ? WHERE f.cid = ?'),
    insertName: db.prepare('INSERT INTO names (rowid, terms) VALUES (?, ?)'),
    deleteName: db.prepare('DELETE FROM names WHERE rowid = ?'),
    // FTS5 yields matches in rowid (= rank) order and the join keeps it: no sort, no scan past LIMIT
    searchIds: arrays(db.prepare(`SELECT rowid % ${ID_SPAN} FROM names WHERE names MATCH ? LIMIT ?`)),
    search: arrays(db.prepare(`
      SELECT f.id, f.cid, f.name, f.size, f.providers, f.peers
      FROM names JOIN files AS f ON f.id = (names.rowid % ${ID_SPAN})
      WHERE names MATCH ? LIMIT ?`)),
    lookup: arrays(db.prepare('SELECT DISTINCT s.peer FROM files f JOIN shares s ON s.file = f.id WHERE f.cid = ? LIMIT ?')),
    lookupCount: arrays(db.prepare('SELECT sum(providers) FROM files WHERE cid = ?')),
    browse: arrays(db.prepare('SELECT f.cid, f.name, f.size FROM shares s JOIN files f ON f.id = s.file WHERE s.peer = ? ORDER BY s.file LIMIT ? OFFSET ?')),
    merge: db.prepare("INSERT INTO names(names, rank) VALUES('merge', ?)"),
    segments: db.prepare('SELECT count(DISTINCT segid) AS n FROM names_idx')
  }
}
