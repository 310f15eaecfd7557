/**
 * ChunkCache on a real temp folder: round trips, what is (not) on disk,
 * eviction under byte caps for both policies, restart.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, writeFile, rename } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import type { TestContext } from 'node:test'
import { HashMismatchError, InvalidCidError, InvalidManifestError, InvalidOptionError, encodeManifest, manifestCid, parseCid, sha256 } from '@sedai/core'
import { CACHE_DEFAULTS, ChunkCache, MAX_CACHED_CHUNK_BYTES } from '../../src/cache/cache.ts'
import type { ChunkCacheInit } from '../../src/cache/cache.ts'
import { SEAL_OVERHEAD, locator } from '../../src/cache/crypto.ts'

/** core's smallest valid chunk size, to keep caps small */
const CHUNK = 16 * 1024
const C = CHUNK + SEAL_OVERHEAD

interface TestFile {
  cid: string
  name: string
  size: number
  bytes: Uint8Array
  chunks: Buffer[]
  meta: { name: string, size: number, chunks: number }
  /** sealed size of the manifest blob */
  M: number
}

async function makeFile (name: string, n: number, fill: (i: number) => Buffer = () => randomBytes(CHUNK)): Promise<TestFile> {
  const chunks = Array.from({ length: n }, (_, i) => fill(i))
  const size = chunks.reduce((s, c) => s + c.byteLength, 0)
  const hashes = Buffer.concat(chunks.map(c => sha256(c)))
  const bytes = encodeManifest({ version: 1, name, size, chunkSize: CHUNK, hashes })
  const cid = (await manifestCid(bytes)).toString()
  return { cid, name, size, bytes, chunks, meta: { name, size, chunks: n }, M: bytes.byteLength + SEAL_OVERHEAD }
}

/** Byte equality whatever the Uint8Array subclass (Buffer or not). */
function sameBytes (actual: Uint8Array | undefined, expected: Uint8Array): void {
  assert.ok(actual !== undefined, 'expected bytes, got undefined')
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), 'bytes differ')
}

async function putAll (cache: ChunkCache, f: TestFile): Promise<void> {
  await cache.putManifest(f.cid, f.bytes, f.meta)
  for (let i = 0; i < f.chunks.length; i++) assert.equal(await cache.putChunk(f.cid, i, f.chunks[i]), true)
}

async function tempDir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-cache-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return join(dir, 'cache')
}

async function openCache (t: TestContext, init: ChunkCacheInit): Promise<ChunkCache> {
  const cache = await ChunkCache.open(init)
  t.after(async () => { await cache.close() })
  return cache
}

/** Every path (relative) and file under `dir`. */
async function walk (dir: string, rel = ''): Promise<Array<{ path: string, bytes: Buffer }>> {
  const out: Array<{ path: string, bytes: Buffer }> = []
  for (const d of await readdir(join(dir, rel), { withFileTypes: true })) {
    const path = join(rel, d.name)
    if (d.isDirectory()) {
      out.push({ path, bytes: Buffer.alloc(0) }, ...await walk(dir, path))
    } else {
      out.push({ path, bytes: await readFile(join(dir, path)) })
    }
  }
  return out
}

test('round trip: manifest and chunks back, file listed, stats counted', async t => {
  const dir = await tempDir(t)
  const cache = await openCache(t, { dir })
  const f = await makeFile('song.ogg', 3, i => Buffer.alloc(i === 2 ? 1000 : CHUNK, i + 1))

  assert.deepEqual(cache.files(), [])
  assert.equal(await cache.getManifest(f.cid), undefined)
  await putAll(cache, f)
  assert.deepEqual(cache.files(), [{ cid: f.cid, name: f.name, size: f.size }])
  sameBytes(await cache.getManifest(f.cid), f.bytes)
  for (let i = 0; i < 3; i++) {
    assert.equal(cache.hasChunk(f.cid, i), true)
    sameBytes(await cache.getChunk(f.cid, i), f.chunks[i])
  }
  assert.equal(cache.hasChunk(f.cid, 3), false)
  assert.equal(await cache.getChunk(f.cid, 3), undefined)
  // putting again is a no-op that still counts as a use
  assert.equal(await cache.putChunk(f.cid, 0, f.chunks[0]), true)

  const bytes = f.M + 2 * C + 1000 + SEAL_OVERHEAD
  assert.deepEqual(cache.stats(), {
    policy: 'lfu', bytes, maxBytes: CACHE_DEFAULTS.maxBytes, entries: 4, hits: 4, misses: 2, evictions: 0, files: 1
  })

  // layout: <dir>/<locator>/{manifest,0,1,2}.bin, private modes, no temp files left
  const loc = locator(f.cid)
  assert.deepEqual((await readdir(dir)), [loc])
  assert.deepEqual((await readdir(join(dir, loc))).sort(), ['0.bin', '1.bin', '2.bin', 'manifest.bin'])
  assert.equal((await stat(dir)).mode & 0o777, 0o700)
  assert.equal((await stat(join(dir, loc))).mode & 0o777, 0o700)
  assert.equal((await stat(join(dir, loc, '0.bin'))).mode & 0o777, 0o600)
  assert.equal((await stat(join(dir, loc, '2.bin'))).size, 1000 + SEAL_OVERHEAD)
})

test('ACCEPTANCE: no plaintext byte of content, name or CID anywhere under dir', async t => {
  const dir = await tempDir(t)
  const cache = await openCache(t, { dir })
  const marker = 'PLAINTEXT-MARKER-ピア'
  const unit = Buffer.from(marker)
  const chunk = Buffer.alloc(CHUNK)
  for (let o = 0; o < CHUNK; o += unit.byteLength) unit.copy(chunk, o)
  const name = `NAME-MARKER-ファイル-${randomBytes(4).toString('hex')}.bin`
  const f = await makeFile(name, 2, () => chunk)
  await putAll(cache, f)
  assert.deepEqual(cache.files().map(x => x.name), [name])
  await cache.close()

  const cidBytes = Buffer.from(parseCid(f.cid).bytes)
  const needles: Array<[string, Buffer]> = [
    ['marker utf-8', unit],
    ['marker utf-16', Buffer.from(marker, 'utf16le')],
    ['marker prefix', Buffer.from('PLAINTEXT-MARKER')],
    ['name', Buffer.from(name)],
    ['name prefix', Buffer.from('NAME-MARKER')],
    ['cid string', Buffer.from(f.cid)],
    ['binary cid', cidBytes],
    ['manifest digest', Buffer.from(parseCid(f.cid).multihash.digest)],
    ['chunk hash', Buffer.from(sha256(chunk))],
    ['manifest bytes head', Buffer.from(f.bytes.subarray(0, 16))]
  ]
  const all = await walk(dir)
  assert.ok(all.filter(x => x.bytes.byteLength > 0).length >= 3, 'blobs were written')
  for (const { path, bytes } of all) {
    for (const [what, needle] of needles) {
      assert.equal(bytes.indexOf(needle), -1, `${what} found in ${path}`)
      assert.equal(Buffer.from(path).indexOf(needle), -1, `${what} found in the path ${path}`)
    }
    assert.ok(!path.includes(f.cid) && !path.toLowerCase().includes('marker'), path)
  }
})

test('a tampered blob is a miss and is deleted; a blob of another CID does not open', async t => {
  const dir = await tempDir(t)
  const cache = await openCache(t, { dir, policy: 'lru' })
  const a = await makeFile('a', 2)
  const b = await makeFile('b', 1)
  await putAll(cache, a)
  await putAll(cache, b)
  assert.equal(cache.files().length, 2)

  const path = join(dir, locator(a.cid), '1.bin')
  const blob = await readFile(path)
  blob[100] ^= 0x80
  await writeFile(path, blob)
  const before = cache.stats()
  assert.equal(await cache.getChunk(a.cid, 1), undefined)
  assert.equal(cache.hasChunk(a.cid, 1), false)
  await assert.rejects(stat(path), { code: 'ENOENT' })
  const after = cache.stats()
  assert.equal(after.misses, before.misses + 1)
  assert.equal(after.entries, before.entries - 1)
  assert.equal(after.bytes, before.bytes - C)
  assert.deepEqual(cache.files().map(x => x.name), ['b'])
  // chunk 0 is untouched
  sameBytes(await cache.getChunk(a.cid, 0), a.chunks[0])

  // a's chunk 0 moved into b's folder as b's chunk 0: sealed under another key
  await rename(join(dir, locator(a.cid), '0.bin'), join(dir, locator(b.cid), '0.bin'))
  assert.equal(await cache.getChunk(b.cid, 0), undefined)
  assert.equal(cache.hasChunk(b.cid, 0), false)

  // a tampered manifest too
  const mpath = join(dir, locator(b.cid), 'manifest.bin')
  const m = await readFile(mpath)
  m[m.byteLength - 1] ^= 1
  await writeFile(mpath, m)
  assert.equal(await cache.getManifest(b.cid), undefined)
  await assert.rejects(stat(mpath), { code: 'ENOENT' })
})

test('only verified content is cached; bad input gets a clear error', async t => {
  const dir = await tempDir(t)
  const cache = await openCache(t, { dir })
  const f = await makeFile('f', 2)
  const g = await makeFile('g', 1)

  // no manifest: the chunk cannot be verified, so it is not stored
  assert.equal(await cache.putChunk(f.cid, 0, f.chunks[0]), false)
  assert.equal(cache.stats().entries, 0)

  await assert.rejects(cache.putManifest(f.cid, g.bytes, g.meta), HashMismatchError)
  await assert.rejects(cache.putManifest(f.cid, f.bytes, { ...f.meta, name: 'other' }), InvalidOptionError)
  await assert.rejects(cache.putManifest(f.cid, f.bytes, { ...f.meta, chunks: 3 }), InvalidOptionError)
  const junk = Buffer.from('not cbor')
  await assert.rejects(cache.putManifest((await manifestCid(junk)).toString(), junk, f.meta), InvalidManifestError)
  assert.equal(cache.stats().entries, 0)

  await cache.putManifest(f.cid, f.bytes, f.meta)
  await assert.rejects(cache.putChunk(f.cid, 0, f.chunks[1]), HashMismatchError)
  await assert.rejects(cache.putChunk(f.cid, 2, f.chunks[0]), InvalidOptionError)
  await assert.rejects(cache.putChunk(f.cid, -1, f.chunks[0]), InvalidOptionError)
  await assert.rejects(cache.putChunk(f.cid, 0.5, f.chunks[0]), InvalidOptionError)
  await assert.rejects(cache.putChunk(f.cid, 0xffffffff, f.chunks[0]), InvalidOptionError)
  await assert.rejects(cache.putChunk(f.cid, 0, Buffer.alloc(MAX_CACHED_CHUNK_BYTES + 1)), InvalidOptionError)
  await assert.rejects(cache.putChunk('nope', 0, f.chunks[0]), InvalidCidError)
  await assert.rejects(cache.getChunk('nope', 0), InvalidCidError)
  await assert.rejects(cache.getChunk(f.cid, -2), InvalidOptionError)
  assert.throws(() => cache.hasChunk(f.cid, Number.NaN), InvalidOptionError)
  assert.throws(() => cache.hasChunk('bafkqaaa', 0), InvalidCidError)
  assert.equal(cache.stats().entries, 1)

  await assert.rejects(ChunkCache.open({ dir, maxBytes: 0 }), InvalidOptionError)
  await assert.rejects(ChunkCache.open({ dir, maxBytes: 1.5 }), InvalidOptionError)
  await assert.rejects(ChunkCache.open({ dir, policy: 'fifo' as 'lru' }), InvalidOptionError)
  await assert.rejects(ChunkCache.open({ dir, lfuAgingAccesses: 0 }), InvalidOptionError)

  await cache.close()
  await assert.rejects(cache.getChunk(f.cid, 0), InvalidOptionError)
})

/** Same accesses under both policies: a chunk used often, then two used once, then one more chunk than fits. */
async function policyRun (t: TestContext, policy: 'lru' | 'lfu'): Promise<ChunkCache> {
  const f = await makeFile('four', 4)
  const cache = await openCache(t, { dir: await tempDir(t), policy, maxBytes: f.M + 3 * C })
  await cache.putManifest(f.cid, f.bytes, f.meta)
  assert.equal(await cache.putChunk(f.cid, 0, f.chunks[0]), true)
  for (let i = 0; i < 5; i++) assert.ok(await cache.getChunk(f.cid, 0))
  assert.equal(await cache.putChunk(f.cid, 1, f.chunks[1]), true)
  assert.equal(await cache.putChunk(f.cid, 2, f.chunks[2]), true)
  for (let i = 0; i < 3; i++) assert.ok(await cache.getManifest(f.cid))
  assert.equal(cache.stats().evictions, 0)
  assert.equal(await cache.putChunk(f.cid, 3, f.chunks[3]), true)
  const s = cache.stats()
  assert.equal(s.evictions, 1)
  assert.equal(s.bytes, f.M + 3 * C)
  assert.ok(s.bytes <= s.maxBytes)
  assert.equal(cache.hasChunk(f.cid, 2), true)
  assert.equal(cache.hasChunk(f.cid, 3), true)
  assert.ok(await cache.getManifest(f.cid))
  return Object.assign(cache, { f })
}

test('eviction, lru: the least recently used chunk goes, however often it was used', async t => {
  const cache = await policyRun(t, 'lru') as ChunkCache & { f: TestFile }
  assert.equal(cache.hasChunk(cache.f.cid, 0), false)
  assert.equal(cache.hasChunk(cache.f.cid, 1), true)
  assert.equal(cache.stats().policy, 'lru')
})

test('eviction, lfu: the often used chunk survives, a recent one used once goes', async t => {
  const cache = await policyRun(t, 'lfu') as ChunkCache & { f: TestFile }
  assert.equal(cache.hasChunk(cache.f.cid, 0), true)
  assert.equal(cache.hasChunk(cache.f.cid, 1), false)
  assert.equal(cache.stats().policy, 'lfu')
})

test('lfu aging: a once-hot chunk decays and is evicted; without aging it stays', async t => {
  async function run (lfuAgingAccesses: number): Promise<boolean> {
    const f = await makeFile('three', 3)
    const cache = await openCache(t, { dir: await tempDir(t), policy: 'lfu', maxBytes: f.M + 2 * C, lfuAgingAccesses })
    await cache.putManifest(f.cid, f.bytes, f.meta)
    await cache.putChunk(f.cid, 0, f.chunks[0])
    for (let i = 0; i < 100; i++) await cache.getChunk(f.cid, 0)
    await cache.putChunk(f.cid, 1, f.chunks[1])
    for (let i = 0; i < 40; i++) {
      await cache.getChunk(f.cid, 1)
      await cache.getManifest(f.cid)
    }
    await cache.putChunk(f.cid, 2, f.chunks[2])
    assert.equal(cache.stats().evictions, 1)
    assert.equal(cache.hasChunk(f.cid, 2), true)
    return cache.hasChunk(f.cid, 0)
  }
  assert.equal(await run(Infinity), true)
  assert.equal(await run(8), false)
})

test('files() drops a file once one of its chunks is evicted; bytes never exceed the cap', async t => {
  const x = await makeFile('x', 1)
  const y = await makeFile('y', 1)
  const cache = await openCache(t, { dir: await tempDir(t), policy: 'lru', maxBytes: x.M + y.M + 2 * C - 1 })
  await putAll(cache, x)
  assert.deepEqual(cache.files().map(f => f.name), ['x'])
  await cache.putManifest(y.cid, y.bytes, y.meta)
  assert.ok(await cache.getManifest(x.cid))
  assert.equal(await cache.putChunk(y.cid, 0, y.chunks[0]), true)
  assert.equal(cache.hasChunk(x.cid, 0), false)
  assert.deepEqual(cache.files(), [{ cid: y.cid, name: 'y', size: CHUNK }])
  assert.equal(cache.stats().files, 1)
  assert.equal(cache.stats().evictions, 1)

  // a chunk larger than the whole cache is refused without evicting anything
  const tiny = await makeFile('tiny', 1)
  const small = await openCache(t, { dir: await tempDir(t), maxBytes: C - 1 })
  await small.putManifest(tiny.cid, tiny.bytes, tiny.meta)
  assert.equal(await small.putChunk(tiny.cid, 0, tiny.chunks[0]), false)
  assert.equal(small.stats().entries, 1)
  assert.equal(small.stats().evictions, 0)

  // many files through a small cache, both policies
  for (const policy of ['lru', 'lfu'] as const) {
    const c = await openCache(t, { dir: await tempDir(t), policy, maxBytes: 5 * C })
    for (let n = 0; n < 8; n++) {
      const f = await makeFile(`f${n}`, 2)
      await putAll(c, f)
      assert.ok(c.stats().bytes <= 5 * C)
      assert.ok(c.files().some(g => g.cid === f.cid), 'the file just cached is complete')
    }
    const s = c.stats()
    assert.ok(s.evictions > 0)
    assert.equal(s.files, c.files().length)
  }
})

test('restart: accounting and eviction survive, files() is empty until a CID is seen again', async t => {
  const dir = await tempDir(t)
  const x = await makeFile('x', 2)
  const y = await makeFile('y', 1)
  const first = await ChunkCache.open({ dir, policy: 'lru' })
  await putAll(first, x)
  // mtimes order the blobs after a restart
  await sleep(30)
  await putAll(first, y)
  const s1 = first.stats()
  await first.close()

  const second = await ChunkCache.open({ dir, policy: 'lru', maxBytes: s1.bytes })
  let s = second.stats()
  assert.equal(s.bytes, s1.bytes)
  assert.equal(s.entries, 5)
  assert.deepEqual([s.hits, s.misses, s.evictions, s.files], [0, 0, 0, 0])
  assert.deepEqual(second.files(), [])
  // asked by CID: readable, and listed again
  sameBytes(await second.getManifest(y.cid), y.bytes)
  assert.deepEqual(second.files(), [{ cid: y.cid, name: 'y', size: CHUNK }])
  sameBytes(await second.getChunk(y.cid, 0), y.chunks[0])

  // a new file in a full cache evicts x's blobs, the oldest
  const z = await makeFile('z', 1)
  await putAll(second, z)
  s = second.stats()
  assert.ok(s.bytes <= s1.bytes)
  assert.ok(s.evictions >= 2)
  assert.equal(second.hasChunk(x.cid, 0), false)
  assert.equal(second.hasChunk(y.cid, 0), true)
  assert.deepEqual(second.files().map(f => f.name).sort(), ['y', 'z'])
  await second.close()

  // a smaller cap on open evicts at once
  const third = await ChunkCache.open({ dir, maxBytes: C + 100 })
  t.after(async () => { await third.close() })
  s = third.stats()
  assert.ok(s.bytes <= C + 100)
  assert.ok(s.evictions > 0)
  assert.deepEqual(third.files(), [])
  // every blob left on disk is accounted for
  const blobs = (await walk(dir)).filter(e => e.path.endsWith('.bin'))
  assert.equal(blobs.length, s.entries)
  assert.equal(blobs.reduce((n, e) => n + e.bytes.byteLength, 0), s.bytes)
})

test('a chunk can be added after a restart: the manifest is read back from disk to verify it', async t => {
  const dir = await tempDir(t)
  const f = await makeFile('later', 2)
  const first = await ChunkCache.open({ dir })
  await first.putManifest(f.cid, f.bytes, f.meta)
  await first.putChunk(f.cid, 0, f.chunks[0])
  await first.close()

  const second = await openCache(t, { dir })
  await assert.rejects(second.putChunk(f.cid, 1, f.chunks[0]), HashMismatchError)
  assert.equal(await second.putChunk(f.cid, 1, f.chunks[1]), true)
  assert.deepEqual(second.files(), [{ cid: f.cid, name: 'later', size: 2 * CHUNK }])
})

test('delete removes every blob of a CID and its folder', async t => {
  const dir = await tempDir(t)
  const cache = await openCache(t, { dir })
  const a = await makeFile('a', 2)
  const b = await makeFile('b', 1)
  await putAll(cache, a)
  await putAll(cache, b)
  await cache.delete(a.cid)
  assert.deepEqual(cache.files().map(f => f.name), ['b'])
  assert.equal(cache.stats().entries, 2)
  assert.equal(cache.stats().bytes, b.M + C)
  assert.equal(cache.stats().evictions, 0)
  assert.deepEqual(await readdir(dir), [locator(b.cid)])
  assert.equal(await cache.getManifest(a.cid), undefined)
})
