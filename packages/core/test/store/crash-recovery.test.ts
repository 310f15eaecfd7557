/**
 * Crash safety of the content store: what a SIGKILL can leave on disk (a
 * write cut short, a completion cut between its steps) and how the next
 * start settles it. A crash is stood in for by stopping the store with the
 * files as a crash would leave them: every write the store makes is
 * committed at once, so closing adds nothing a SIGKILL would have lost.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { link, mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from '../../src/sqlite.ts'
import { test } from 'node:test'
import { REPO_FILES } from '../../src/config.ts'
import { silentLogger } from '../../src/logger.ts'
import { Bitfield } from '../../src/store/bitfield.ts'
import { ContentStore } from '../../src/store/content-store.ts'
import { buildManifest, encodeManifest, manifestCid } from '../../src/store/manifest.ts'
import type { Manifest } from '../../src/store/manifest.ts'
import type { TestContext } from 'node:test'

const CHUNK = 16 * 1024

async function setup (t: TestContext): Promise<{ dir: string, repo: string, open: () => Promise<ContentStore> }> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-crash-'))
  const repo = join(dir, 'repo')
  const stores: ContentStore[] = []
  t.after(async () => {
    for (const s of stores) await s.stop()
    await rm(dir, { recursive: true, force: true })
  })
  return {
    dir,
    repo,
    open: async () => {
      const store = new ContentStore({ repo, chunkSize: CHUNK, logger: silentLogger() })
      stores.push(store)
      await store.start()
      return store
    }
  }
}

async function writeAt (path: string, position: number, data: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+')
  try { await fh.write(data, 0, data.byteLength, position) } finally { await fh.close() }
}

/** A source file of `chunks` chunks (the last one short) and its manifest. */
async function source (dir: string, chunks: number): Promise<{ data: Buffer, manifest: Manifest, bytes: Uint8Array, key: string, chunk: (i: number) => Buffer }> {
  const data = randomBytes((chunks - 1) * CHUNK + 777)
  const path = join(dir, `src-${chunks}.bin`)
  await writeFile(path, data)
  const { manifest, bytes, cid } = await buildManifest(path, { chunkSize: CHUNK })
  return { data, manifest, bytes, key: cid.toString(), chunk: i => data.subarray(i * CHUNK, Math.min(data.byteLength, (i + 1) * CHUNK)) }
}

test('start re-verifies every partial download: a claimed chunk whose write was cut is cleared, the others kept; stray .part files go', async (t) => {
  const { dir, repo, open: openStore } = await setup(t)
  const src = await source(dir, 5)
  const store = await openStore()
  const rec = store.beginDownload(src.key, src.bytes, src.manifest, join(dir, 'out.bin'))
  // chunks 0, 1 and 4 written whole; 2 claimed and cut half-way (the downloader
  // records a chunk before writing it); 3 never reached
  const claimed = new Bitfield(5)
  for (const i of [0, 1, 4, 2]) {
    claimed.set(i)
    store.saveProgress(src.key, claimed)
    const bytes = src.chunk(i)
    await writeAt(rec.tmpPath, i * CHUNK, i === 2 ? bytes.subarray(0, bytes.byteLength >> 1) : bytes)
  }
  // a .part no download owns: left by a crash after a completion's commit
  const stray = join(repo, REPO_FILES.downloads, 'bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4.part')
  await writeFile(stray, 'left over')
  await store.stop()

  const started = performance.now()
  const again = await openStore()
  const ms = performance.now() - started
  const checks = again.startupChecks()
  t.diagnostic(`start-up re-verification: ${JSON.stringify(checks)} in ${ms.toFixed(1)} ms`)
  assert.deepEqual(checks, [{ cid: src.key, kept: 3, cleared: [2] }])
  const have = again.getDownload(src.key)?.have
  assert.deepEqual([0, 1, 2, 3, 4].map(i => have?.get(i)), [true, true, false, false, true], 'cleared before any get asked')
  assert.equal(again.verifiedSinceStart(src.key), true, 'a resume needs no second pass')
  assert.equal(await again.verifyPartial(src.key), 0, 'what was kept verifies')
  await assert.rejects(stat(stray), { code: 'ENOENT' })
  assert.ok((await stat(rec.tmpPath)).isFile(), 'the owned .part stays')
})

test('completeDownload re-hashes the whole file: a chunk that went bad on disk is cleared and nothing is placed', async (t) => {
  const { dir, open: openStore } = await setup(t)
  const src = await source(dir, 4)
  const store = await openStore()
  const dest = join(dir, 'done.bin')
  const rec = store.beginDownload(src.key, src.bytes, src.manifest, dest)
  for (let i = 0; i < 4; i++) {
    await writeAt(rec.tmpPath, i * CHUNK, src.chunk(i))
    rec.have.set(i)
  }
  store.saveProgress(src.key, rec.have)
  // bit rot after the chunk was verified and kept
  await writeAt(rec.tmpPath, CHUNK + 100, Buffer.from('rot'))
  await assert.rejects(store.completeDownload(src.key), (err: any) => {
    t.diagnostic(`refused: ${err.message}`)
    return err.code === 'ERR_HASH_MISMATCH' && /1 chunk/.test(err.message)
  })
  await assert.rejects(stat(dest), { code: 'ENOENT' }, 'nothing under the final name')
  assert.equal(store.has(src.key), false)
  const have = store.getDownload(src.key)?.have
  assert.deepEqual([0, 1, 2, 3].map(i => have?.get(i)), [true, false, true, true], 'the bad chunk is fetched again')

  await writeAt(rec.tmpPath, CHUNK, src.chunk(1))
  have?.set(1)
  store.saveProgress(src.key, have as Bitfield)
  const started = performance.now()
  await store.completeDownload(src.key)
  t.diagnostic(`a ${src.data.byteLength}-byte file re-hashed and placed in ${(performance.now() - started).toFixed(1)} ms`)
  assert.deepEqual(await readFile(dest), src.data)
})

test('a completion cut between its steps: placed but not committed is finished by the next completion; committed but the .part not unlinked is cleaned at start', async (t) => {
  const { dir, open: openStore } = await setup(t)
  const src = await source(dir, 3)
  let store = await openStore()
  const dest = join(dir, 'placed.bin')
  const rec = store.beginDownload(src.key, src.bytes, src.manifest, dest)
  await writeAt(rec.tmpPath, 0, src.data)
  store.saveProgress(src.key, Bitfield.full(3))
  // crash 1: after the link, before the commit
  await link(rec.tmpPath, dest)
  await store.stop()
  store = await openStore()
  assert.deepEqual(store.startupChecks(), [{ cid: src.key, kept: 3, cleared: [] }])
  assert.equal(store.has(src.key), false, 'not complete until committed')
  await store.completeDownload(src.key)
  assert.equal(store.has(src.key), true)
  await assert.rejects(stat(rec.tmpPath), { code: 'ENOENT' })

  // crash 2: after the commit, before the unlink (the .part is a second name of the file)
  await link(dest, rec.tmpPath)
  await store.stop()
  store = await openStore()
  await assert.rejects(stat(rec.tmpPath), { code: 'ENOENT' }, 'the stray name is unlinked')
  assert.deepEqual(await readFile(dest), src.data, 'never truncated through the other name')
  assert.deepEqual(Buffer.from(await store.readChunk(src.key, 2)), src.chunk(2))

  // a new download over a .part that is a hard link of a finished file replaces the name, not the bytes
  await link(dest, rec.tmpPath)
  store.beginDownload(src.key, src.bytes, src.manifest, join(dir, 'second.bin'))
  assert.deepEqual(await readFile(dest), src.data)
  assert.equal((await stat(rec.tmpPath)).nlink, 1)
})

test('recording one chunk is one small write-ahead-log entry, even with a 128 KiB manifest', async (t) => {
  const { dir, repo, open: openStore } = await setup(t)
  const n = 4096
  const manifest: Manifest = { version: 1, name: 'big.bin', size: n * CHUNK, chunkSize: CHUNK, hashes: randomBytes(n * 32) }
  const bytes = encodeManifest(manifest)
  const key = (await manifestCid(bytes)).toString()
  const store = await openStore()
  store.beginDownload(key, bytes, manifest, join(dir, 'big.bin'))
  const dbPath = join(repo, REPO_FILES.database)
  const other = new DatabaseSync(dbPath)
  t.after(() => { other.close() })
  other.exec('PRAGMA wal_checkpoint(TRUNCATE)')
  const walBefore = (await stat(`${dbPath}-wal`)).size
  const have = new Bitfield(n)
  const records = 200
  const started = performance.now()
  for (let i = 0; i < records; i++) {
    have.set(i)
    store.saveProgress(key, have)
  }
  const us = (performance.now() - started) * 1000 / records
  const perRecord = ((await stat(`${dbPath}-wal`)).size - walBefore) / records
  t.diagnostic(`manifest ${bytes.byteLength} bytes, ${n} chunks: ${Math.round(perRecord)} bytes of WAL and ${us.toFixed(0)} µs per recorded chunk (${records} records)`)
  // rewriting the whole row would be >= 128 KiB per record
  assert.ok(perRecord < 16 * 1024, `${perRecord} bytes per record`)
  const reread = store.getDownload(key)?.have
  assert.equal(reread?.count(), records)
})
