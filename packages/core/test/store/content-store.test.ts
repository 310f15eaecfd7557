import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { REPO_FILES } from '../../src/config.ts'
import { silentLogger } from '../../src/logger.ts'
import { Bitfield } from '../../src/store/bitfield.ts'
import { ContentStore } from '../../src/store/content-store.ts'
import { DatabaseSync } from '../../src/sqlite.ts'
import { buildManifest, chunkCount } from '../../src/store/manifest.ts'

const CHUNK = 16 * 1024
/** a fixed mtime (s) that utimes can restore exactly, to get past the stat check */
const MTIME = 1_700_000_000

interface Ctx { after: (fn: () => Promise<void>) => void }

async function setup (t: Ctx): Promise<{ dir: string, repo: string, store: ContentStore, reopen: () => Promise<ContentStore> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-store-'))
  const repo = join(dir, 'repo')
  const stores: ContentStore[] = []
  const make = async (): Promise<ContentStore> => {
    const store = new ContentStore({ repo, chunkSize: CHUNK, logger: silentLogger() })
    stores.push(store)
    await store.start()
    return store
  }
  t.after(async () => {
    for (const s of stores) await s.stop()
    await rm(dir, { recursive: true, force: true })
  })
  return { dir, repo, store: await make(), reopen: make }
}

async function writeFixed (path: string, data: Uint8Array): Promise<void> {
  await writeFile(path, data)
  await utimes(path, MTIME, MTIME)
}

/** Overwrite bytes in place: same inode, same size. */
async function overwrite (path: string, position: number, data: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+')
  try { await fh.write(data, 0, data.byteLength, position) } finally { await fh.close() }
}

test('share, list, has, getManifest, unshare', async (t) => {
  const { dir, store } = await setup(t)
  const data = randomBytes(2 * CHUNK + 7)
  const path = join(dir, 'ピアツーピア入門.pdf')
  await writeFile(path, data)

  const shared = await store.share(path)
  const { cid } = await buildManifest(path, { chunkSize: CHUNK })
  assert.deepEqual(shared, { cid: cid.toString(), name: 'ピアツーピア入門.pdf', size: data.byteLength, path })
  assert.deepEqual(store.list(), [shared])
  assert.equal(store.has(shared.cid), true)
  const m = store.getManifest(shared.cid)
  assert.ok(m !== undefined)
  assert.equal(chunkCount(m.manifest), 3)
  assert.equal(m.manifest.name, 'ピアツーピア入門.pdf')

  assert.equal(store.unshare(shared.cid), true)
  assert.equal(store.unshare(shared.cid), false)
  assert.deepEqual(store.list(), [])
  assert.equal(store.has(shared.cid), false)
  assert.equal(store.getManifest(shared.cid), undefined)
  await assert.rejects(store.readChunk(shared.cid, 0), { code: 'ERR_NOT_FOUND' })
})

test('share refuses what is not an absolute path to a regular file', async (t) => {
  const { dir, store } = await setup(t)
  await writeFile(join(dir, 'f.txt'), 'x')
  await assert.rejects(store.share('f.txt'), { code: 'ERR_INVALID_PATH', message: /absolute/ })
  await assert.rejects(store.share(join(dir, 'missing.txt')), { code: 'ERR_INVALID_PATH', message: /ENOENT/ })
  await assert.rejects(store.share(dir), { code: 'ERR_INVALID_PATH', message: /shareFolder/ })
})

test('re-sharing an unchanged file does not hash it again', async (t) => {
  const { dir, store } = await setup(t)
  const path = join(dir, 'a.bin')
  const data = randomBytes(CHUNK + 1)
  await writeFixed(path, data)
  const first = await store.share(path)
  // new bytes behind an identical stat: only a re-hash would notice
  await overwrite(path, 0, Buffer.from('changed'))
  await utimes(path, MTIME, MTIME)
  assert.deepEqual(await store.share(path), first)
  // a visible change is hashed again and replaces the row of that path
  await writeFile(path, randomBytes(CHUNK + 1))
  const second = await store.share(path)
  assert.notEqual(second.cid, first.cid)
  assert.deepEqual(store.list(), [second])
  assert.equal(store.has(first.cid), false)
})

test('readChunk returns verified chunks in fresh buffers', async (t) => {
  const { dir, store } = await setup(t)
  const data = randomBytes(3 * CHUNK + 5)
  const path = join(dir, 'f.bin')
  await writeFile(path, data)
  const { cid } = await store.share(path)
  for (let i = 0; i < 4; i++) {
    const chunk = await store.readChunk(cid, i)
    assert.deepEqual(Buffer.from(chunk), data.subarray(i * CHUNK, Math.min(data.byteLength, (i + 1) * CHUNK)), `chunk ${i}`)
  }
  const [a, b] = await Promise.all([store.readChunk(cid, 0), store.readChunk(cid, 0)])
  assert.notEqual(a.buffer, b.buffer)
  assert.equal((await store.readChunk(cid, 3)).byteLength, 5)
  for (const bad of [-1, 4, 1.5]) await assert.rejects(store.readChunk(cid, bad), { code: 'ERR_INVALID_OPTION' })
  await assert.rejects(store.readChunk('bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4', 0), { code: 'ERR_NOT_FOUND' })
})

test('a file changed in place behind an identical stat is caught by the hash and goes stale', async (t) => {
  const { dir, store } = await setup(t)
  const data = randomBytes(2 * CHUNK)
  const path = join(dir, 'f.bin')
  await writeFixed(path, data)
  const { cid } = await store.share(path)
  assert.equal((await store.readChunk(cid, 1)).byteLength, CHUNK)

  const before = await stat(path)
  await overwrite(path, CHUNK + 100, Buffer.from('tampered'))
  await utimes(path, MTIME, MTIME)
  const after = await stat(path)
  assert.deepEqual([after.size, after.mtimeMs, after.ino], [before.size, before.mtimeMs, before.ino], 'stat looks unchanged')

  assert.equal((await store.readChunk(cid, 0)).byteLength, CHUNK, 'chunk 0 is still intact')
  await assert.rejects(store.readChunk(cid, 1), { code: 'ERR_CONTENT_CHANGED' })
  assert.deepEqual(store.list(), [])
  assert.equal(store.has(cid), false)
  assert.equal(store.getManifest(cid), undefined)
  await assert.rejects(store.readChunk(cid, 0), { code: 'ERR_NOT_FOUND' })
  // sharing it again hashes the new content
  const again = await store.share(path)
  assert.notEqual(again.cid, cid)
  assert.deepEqual(store.list(), [again])
})

test('a file that grew or vanished is caught by the stat check', async (t) => {
  const { dir, store } = await setup(t)
  const grown = join(dir, 'grown.bin')
  const gone = join(dir, 'gone.bin')
  await writeFile(grown, randomBytes(CHUNK))
  await writeFile(gone, randomBytes(CHUNK))
  const a = await store.share(grown)
  const b = await store.share(gone)
  await writeFile(grown, Buffer.from('more'), { flag: 'a' })
  await unlink(gone)
  // the first chunk itself is intact: only the stat tells
  await assert.rejects(store.readChunk(a.cid, 0), { code: 'ERR_CONTENT_CHANGED' })
  await assert.rejects(store.readChunk(b.cid, 0), { code: 'ERR_CONTENT_CHANGED' })
  assert.deepEqual(store.list(), [])
})

test('two copies of one file: a changed copy falls back to the other', async (t) => {
  const { dir, store } = await setup(t)
  const data = randomBytes(CHUNK + 3)
  // same name and bytes, so the same manifest and CID
  await mkdir(join(dir, 'x'))
  await mkdir(join(dir, 'y'))
  const one = join(dir, 'x', 'same.bin')
  const two = join(dir, 'y', 'same.bin')
  await writeFixed(one, data)
  await writeFixed(two, data)
  const a = await store.share(one)
  const b = await store.share(two)
  assert.equal(a.cid, b.cid)
  assert.equal(store.list().length, 2)
  // a byte that differs from the random data's first byte (writing 'x' over an 'x' changed nothing, 1 run in 256)
  await overwrite(one, 0, Buffer.from([data[0] ^ 0xff]))
  await utimes(one, MTIME, MTIME)
  await overwrite(two, 0, Buffer.from([data[0] ^ 0x0f]))
  await utimes(two, MTIME, MTIME)
  // both changed: both go stale, one error
  await assert.rejects(store.readChunk(a.cid, 0), { code: 'ERR_CONTENT_CHANGED' })
  assert.deepEqual(store.list(), [])

  await writeFixed(one, data)
  await writeFixed(two, data)
  await store.share(one)
  await store.share(two)
  await overwrite(one, 0, Buffer.from([data[0] ^ 0xff]))
  await utimes(one, MTIME, MTIME)
  assert.deepEqual(Buffer.from(await store.readChunk(a.cid, 0)), data.subarray(0, CHUNK))
  assert.deepEqual(store.list().map(f => f.path), [two])
  assert.equal(store.has(a.cid), true)
})

test('shares persist across stop and start', async (t) => {
  const { dir, store, reopen } = await setup(t)
  const data = randomBytes(CHUNK + 9)
  const path = join(dir, 'f.bin')
  await writeFile(path, data)
  const shared = await store.share(path)
  await store.stop()
  await store.stop() // idempotent
  assert.throws(() => store.list(), /not started/)

  const again = await reopen()
  await again.start() // idempotent
  assert.deepEqual(again.list(), [shared])
  assert.deepEqual(Buffer.from(await again.readChunk(shared.cid, 1)), data.subarray(CHUNK))
  // still unchanged: no re-hash needed, same row
  assert.deepEqual(await again.share(path), shared)
})

test('shareFolder shares regular files recursively, skipping dotfiles and symlinks', async (t) => {
  const { dir, store } = await setup(t)
  const root = join(dir, '共有')
  await mkdir(join(root, 'sub', 'deeper'), { recursive: true })
  await mkdir(join(root, '.git'))
  await writeFile(join(root, 'a.txt'), 'a')
  await writeFile(join(root, 'empty.txt'), '')
  await writeFile(join(root, '.hidden.txt'), 'h')
  await writeFile(join(root, '.git', 'config'), 'c')
  await writeFile(join(root, 'sub', 'ピアツーピア入門.pdf'), randomBytes(CHUNK + 1))
  await writeFile(join(root, 'sub', 'deeper', 'z.bin'), 'z')
  // a legal Linux name no manifest accepts: skipped, not fatal
  await writeFile(join(root, 'back\\slash.txt'), 'b')
  await symlink(join(root, 'a.txt'), join(root, 'link.txt'))
  await symlink(join(root, 'sub'), join(root, 'link-dir'))

  const shared = await store.shareFolder(root)
  const expected = ['a.txt', 'empty.txt', 'sub/deeper/z.bin', 'sub/ピアツーピア入門.pdf'].map(p => join(root, p))
  assert.deepEqual(shared.map(f => f.path).sort(), expected.sort())
  assert.deepEqual(store.list().map(f => f.path).sort(), expected.sort())
  assert.equal(shared.find(f => f.path.endsWith('.pdf'))?.name, 'ピアツーピア入門.pdf')
  assert.equal(shared.find(f => f.name === 'empty.txt')?.size, 0)

  await assert.rejects(store.shareFolder('relative'), { code: 'ERR_INVALID_PATH' })
  await assert.rejects(store.shareFolder(join(root, 'a.txt')), { code: 'ERR_INVALID_PATH' })
})

test('download lifecycle: begin, progress, resume after reopen, verify, complete', async (t) => {
  const { dir, repo, store, reopen } = await setup(t)
  const data = randomBytes(3 * CHUNK + 5)
  const src = join(dir, 'source.pdf')
  await writeFile(src, data)
  const { manifest, bytes, cid } = await buildManifest(src, { name: 'ピアツーピア入門.pdf', chunkSize: CHUNK })
  const key = cid.toString()
  const dest = join(dir, 'downloads', '日本語', 'ピアツーピア入門.pdf')
  const chunk = (i: number): Buffer => data.subarray(i * CHUNK, Math.min(data.byteLength, (i + 1) * CHUNK))

  const rec = store.beginDownload(key, bytes, manifest, dest)
  assert.equal(rec.tmpPath, join(repo, REPO_FILES.downloads, `${key}.part`))
  assert.equal((await stat(rec.tmpPath)).size, data.byteLength)
  assert.equal(rec.have.length, 4)
  assert.equal(rec.have.count(), 0)

  // what the downloader does: write a verified chunk at its offset, mark it, checkpoint
  const put = async (tmp: string, i: number, bytes: Uint8Array = chunk(i)): Promise<void> => { await overwrite(tmp, i * CHUNK, bytes) }
  for (const i of [0, 1, 2]) {
    await put(rec.tmpPath, i)
    rec.have.set(i)
  }
  store.saveProgress(key, rec.have)
  // begin again returns the record as saved, keeping the partial file
  const same = store.beginDownload(key, bytes, manifest, dest)
  assert.equal(same.have.count(), 3)
  assert.deepEqual(await readFile(rec.tmpPath).then(b => b.subarray(0, CHUNK)), chunk(0))

  await store.stop()
  const store2 = await reopen()
  const resumed = store2.getDownload(key)
  assert.ok(resumed !== undefined)
  assert.deepEqual([0, 1, 2, 3].map(i => resumed.have.get(i)), [true, true, true, false])
  assert.deepEqual(resumed.manifest, manifest)
  assert.deepEqual(Buffer.from(resumed.manifestBytes), Buffer.from(bytes))
  assert.equal(resumed.destPath, dest)
  assert.equal(store2.listDownloads().length, 1)
  assert.equal(store2.has(key), false, 'a partial download is not shared')

  // a chunk on disk that no longer matches is cleared
  await put(resumed.tmpPath, 1, Buffer.alloc(10))
  assert.equal(await store2.verifyPartial(key), 1)
  const checked = store2.getDownload(key)
  assert.ok(checked !== undefined)
  assert.deepEqual([0, 1, 2, 3].map(i => checked.have.get(i)), [true, false, true, false])
  assert.equal(await store2.verifyPartial(key), 0)

  await assert.rejects(store2.completeDownload(key), { code: 'ERR_INVALID_OPTION', message: /2\/4/ })
  for (const i of [1, 3]) {
    await put(checked.tmpPath, i)
    checked.have.set(i)
  }
  store2.saveProgress(key, checked.have)
  const done = await store2.completeDownload(key)
  assert.deepEqual(done, { cid: key, name: 'ピアツーピア入門.pdf', size: data.byteLength, path: dest })
  assert.deepEqual(await readFile(dest), data)
  await assert.rejects(stat(checked.tmpPath), { code: 'ENOENT' })
  assert.equal(store2.getDownload(key), undefined)
  assert.deepEqual(store2.listDownloads(), [])
  assert.deepEqual(store2.list(), [done])
  assert.equal(store2.has(key), true)
  assert.deepEqual(Buffer.from(store2.getManifest(key)?.bytes ?? []), Buffer.from(bytes))
  assert.deepEqual(Buffer.from(await store2.readChunk(key, 3)), chunk(3))
})

/** A downloaded-and-complete record of a fresh random file of `chunks` chunks, going to `dest`. */
async function completedRecord (dir: string, store: ContentStore, dest: string | { path: string, replace: boolean }, chunks = 2): Promise<{ key: string, data: Buffer, tmpPath: string }> {
  const src = join(dir, `src-${randomBytes(4).toString('hex')}.bin`)
  const data = randomBytes(chunks * CHUNK - 7)
  await writeFile(src, data)
  const { manifest, bytes, cid } = await buildManifest(src, { chunkSize: CHUNK })
  const rec = store.beginDownload(cid.toString(), bytes, manifest, dest)
  await overwrite(rec.tmpPath, 0, data)
  for (let i = 0; i < rec.have.length; i++) rec.have.set(i)
  store.saveProgress(cid.toString(), rec.have)
  return { key: cid.toString(), data, tmpPath: rec.tmpPath }
}

test('completeDownload never overwrites a different file unless the download may replace it; the same bytes there are kept', async (t) => {
  const { dir, store, reopen } = await setup(t)
  const dest = join(dir, 'taken.bin')
  await writeFile(dest, 'mine')
  const kept = await completedRecord(dir, store, dest)
  await assert.rejects(store.completeDownload(kept.key), { code: 'ERR_DESTINATION_EXISTS', message: /exists.*--force/ })
  assert.equal(await readFile(dest, 'utf8'), 'mine')
  assert.ok(store.getDownload(kept.key) !== undefined, 'the download is kept')
  assert.equal((await stat(kept.tmpPath)).size, kept.data.byteLength)

  // the latest get asked to replace: the flag survives a restart
  store.setDestination(kept.key, { path: dest, replace: true })
  await store.stop()
  const store2 = await reopen()
  assert.equal(store2.getDownload(kept.key)?.replace, true)
  await store2.completeDownload(kept.key)
  assert.deepEqual(await readFile(dest), kept.data)
  assert.deepEqual(store2.list().map(f => f.path), [dest])

  // identical bytes already at the destination: that is the file asked for
  const twin = join(dir, 'twin.bin')
  const same = await completedRecord(dir, store2, twin)
  await writeFile(twin, same.data)
  const placed = await store2.completeDownload(same.key)
  assert.equal(placed.path, twin)
  assert.ok(store2.has(same.key))
})

test('setDestination: a pending download finishes where the latest get asked', async (t) => {
  const { dir, store } = await setup(t)
  const first = join(dir, 'first.bin')
  const latest = join(dir, 'sub', 'latest.bin')
  const rec = await completedRecord(dir, store, first)
  store.setDestination(rec.key, { path: latest, replace: false })
  assert.equal(store.getDownload(rec.key)?.destPath, latest)
  const done = await store.completeDownload(rec.key)
  assert.equal(done.path, latest)
  assert.deepEqual(await readFile(latest), rec.data)
  await assert.rejects(stat(first), { code: 'ENOENT' })
  assert.throws(() => { store.setDestination(rec.key, { path: first, replace: false }) }, { code: 'ERR_NOT_FOUND' })
  assert.throws(() => { store.setDestination(rec.key, { path: 'relative.bin', replace: false }) }, { code: 'ERR_INVALID_PATH' })
})

test('a version 1 database is migrated: its downloads are kept and do not replace files', async (t) => {
  const { dir, repo, store, reopen } = await setup(t)
  const dest = join(dir, 'v1.bin')
  const rec = await completedRecord(dir, store, dest)
  await store.stop()
  // back to the version 1 schema, as a repo written before `get --force` has it
  const db = new DatabaseSync(join(repo, REPO_FILES.database))
  db.exec('ALTER TABLE downloads DROP COLUMN replace_dest; PRAGMA user_version = 1')
  db.close()
  const store2 = await reopen()
  assert.equal(store2.getDownload(rec.key)?.replace, false)
  assert.equal(store2.getDownload(rec.key)?.destPath, dest)
  assert.equal((await store2.completeDownload(rec.key)).path, dest)
})

test('copyTo: a verified copy of a held file at a new path, shared there too; never over a different file unless asked', async (t) => {
  const { dir, store } = await setup(t)
  const data = randomBytes(3 * CHUNK + 11)
  const x1 = join(dir, 'x1.bin')
  await writeFixed(x1, data)
  const { cid } = await store.share(x1)
  const x2 = join(dir, 'out', 'x2.bin')

  const copy = await store.copyTo(cid, { path: x2, replace: false })
  assert.deepEqual(copy, { cid, name: 'x1.bin', size: data.byteLength, path: x2 })
  assert.deepEqual(await readFile(x2), data)
  assert.notEqual((await stat(x2)).ino, (await stat(x1)).ino, 'a copy, not a second name of one file')
  assert.deepEqual(store.list().map(f => f.path).sort(), [x1, x2].sort())
  assert.deepEqual(await readdir(join(dir, 'out')), ['x2.bin'], 'no temporary file left')
  // already there: nothing copied, nothing changed
  const mtime = (await stat(x2)).mtimeMs
  assert.deepEqual(await store.copyTo(cid, { path: x2, replace: false }), copy)
  assert.equal((await stat(x2)).mtimeMs, mtime)

  // a different file at the destination is left alone without replace, replaced with it
  const mine = join(dir, 'mine.bin')
  await writeFile(mine, 'my notes')
  await assert.rejects(store.copyTo(cid, { path: mine, replace: false }), { code: 'ERR_DESTINATION_EXISTS' })
  assert.equal(await readFile(mine, 'utf8'), 'my notes')
  await store.copyTo(cid, { path: mine, replace: true })
  assert.deepEqual(await readFile(mine), data)

  // identical bytes the store did not know of are adopted as they are
  const twin = join(dir, 'twin.bin')
  await writeFile(twin, data)
  const ino = (await stat(twin)).ino
  assert.equal((await store.copyTo(cid, { path: twin, replace: false }))?.path, twin)
  assert.equal((await stat(twin)).ino, ino)

  // a source changed behind an identical stat is caught by the copy's verification
  await store.unshare(cid)
  const { cid: again } = await store.share(x1)
  await overwrite(x1, 5, Buffer.from('changed'))
  await utimes(x1, MTIME, MTIME)
  const x3 = join(dir, 'x3.bin')
  assert.equal(await store.copyTo(again, { path: x3, replace: false }), undefined)
  await assert.rejects(stat(x3), { code: 'ENOENT' })
  assert.equal(store.has(again), false, 'the changed copy is no longer served')
  assert.equal(await store.copyTo('bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4', { path: x3, replace: false }), undefined)

  // the only copy edited, then asked for at its own path: refused without replace, and no longer served
  // either way, so a get goes to the network instead of reporting the edited file as the CID
  const only = join(dir, 'only.bin')
  await writeFile(only, data)
  const { cid: third } = await store.share(only)
  await writeFile(only, 'edited')
  await assert.rejects(store.copyTo(third, { path: only, replace: false }), { code: 'ERR_DESTINATION_EXISTS' })
  assert.equal(store.has(third), false)
  await writeFile(only, data)
  await store.share(only)
  await writeFile(only, 'edited again')
  assert.equal(await store.copyTo(third, { path: only, replace: true }), undefined)
  assert.equal(store.has(third), false)
  assert.equal(await readFile(only, 'utf8'), 'edited again', 'nothing to copy from: left as it is')
})

test('abortDownload, verifyPartial of a lost .part file, and refusals', async (t) => {
  const { dir, store } = await setup(t)
  const src = join(dir, 'src.bin')
  await writeFile(src, randomBytes(2 * CHUNK))
  const { manifest, bytes, cid } = await buildManifest(src, { chunkSize: CHUNK })
  const key = cid.toString()
  const dest = join(dir, 'out.bin')

  assert.throws(() => store.beginDownload(key, Uint8Array.from([...bytes, 0]), manifest, dest), { code: 'ERR_HASH_MISMATCH' })
  assert.throws(() => store.beginDownload('junk', bytes, manifest, dest), { code: 'ERR_INVALID_CID' })
  assert.throws(() => store.beginDownload(key, bytes, manifest, 'out.bin'), { code: 'ERR_INVALID_PATH' })

  const rec = store.beginDownload(key, bytes, manifest, dest)
  assert.throws(() => store.saveProgress(key, new Bitfield(3)), { code: 'ERR_INVALID_OPTION' })
  assert.throws(() => store.saveProgress('bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4', rec.have), { code: 'ERR_NOT_FOUND' })
  await assert.rejects(store.completeDownload('bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4'), { code: 'ERR_NOT_FOUND' })

  // the .part file vanished: every chunk is lost, the file is recreated
  await overwrite(rec.tmpPath, 0, (await readFile(src)).subarray(0, CHUNK))
  rec.have.set(0)
  store.saveProgress(key, rec.have)
  await unlink(rec.tmpPath)
  assert.equal(await store.verifyPartial(key), 1)
  assert.equal(store.getDownload(key)?.have.count(), 0)
  assert.equal((await stat(rec.tmpPath)).size, 2 * CHUNK)

  store.abortDownload(key)
  assert.equal(store.getDownload(key), undefined)
  await assert.rejects(stat(rec.tmpPath), { code: 'ENOENT' })
  store.abortDownload(key) // nothing left: no error
})
