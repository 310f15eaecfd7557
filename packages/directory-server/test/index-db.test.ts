import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { PeerLimitError } from '../src/errors.ts'
import { DirectoryIndex, rankKey } from '../src/index-db.ts'
import { matchExpression } from '../src/terms.ts'
import type { FileTuple } from '../src/messages.ts'
import type { TestContext } from 'node:test'

const LIMITS = { maxQueryChars: 256, maxKeywords: 8 }
const CID = (n: number): string => `bafyrei${n.toString().padStart(52, 'a')}`

async function open (t: TestContext): Promise<{ path: string, index: DirectoryIndex }> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-dirdb-'))
  const path = join(dir, 'directory.db')
  const index = new DirectoryIndex(path, { providersPerHit: 2 })
  t.after(async () => { index.close(); await rm(dir, { recursive: true, force: true }) })
  return { path, index }
}

const names = (index: DirectoryIndex, q: string, max = 100): string[] => index.searchHits(matchExpression(q, LIMITS), max).map(h => h[1])

test('rank keys order by providers, then age', () => {
  assert.ok(rankKey(3, 10) < rankKey(2, 1))
  assert.ok(rankKey(2, 1) < rankKey(2, 2))
  assert.ok(rankKey(1, 2 ** 32 - 1) < Number.MAX_SAFE_INTEGER)
})

test('search ranks by providers without sorting, lists providers, caps results', async (t) => {
  const { index } = await open(t)
  const a = index.upsertPeer('peerA', ['/ip4/10.0.0.1/tcp/1/p2p/peerA'])
  const b = index.upsertPeer('peerB', [])
  const c = index.upsertPeer('peerC', [])
  const files: FileTuple[] = Array.from({ length: 150 }, (_, i) => [CID(i), `love song ${i}.mp3`, i])
  index.register(a, files, { maxFilesPerPeer: 1000 })
  index.register(b, [files[120], files[77]], { maxFilesPerPeer: 1000 })
  index.register(c, [files[120], [CID(999), 'ピアツーピア入門.pdf', 5]], { maxFilesPerPeer: 1000 })
  assert.equal(index.files, 151)
  assert.equal(index.shares, 154)
  const top = index.searchHits(matchExpression('love', LIMITS), 100)
  assert.equal(top.length, 100)
  assert.deepEqual(top.slice(0, 3).map(h => [h[1], h[3]]), [['love song 120.mp3', 3], ['love song 77.mp3', 2], ['love song 0.mp3', 1]])
  // at most providersPerHit (2) provider rows per hit, the count is the full one
  assert.equal(top[0][4].length, 2)
  assert.deepEqual(names(index, 'ツーピア'), ['ピアツーピア入門.pdf'])
  assert.deepEqual(names(index, '入門 pdf'), ['ピアツーピア入門.pdf'])
  assert.deepEqual(names(index, 'song 5'), ['love song 5.mp3'])
  assert.deepEqual(names(index, 'glove'), [])
  const lookup = index.lookup(CID(120), 10)
  assert.equal(lookup.count, 3)
  assert.deepEqual(lookup.peers.sort(), [a.row, b.row, c.row].sort())
})

test('hit cache: a repeated search reads only rowids, a change of providers is seen at once, bounded', async (t) => {
  const { path, index } = await open(t)
  // the same database without the cache: every search joins the files table
  const plain = new DirectoryIndex(path, { providersPerHit: 2, hitCacheEntries: 0 })
  t.after(() => { plain.close() })
  const a = index.upsertPeer('peerA', [])
  const b = index.upsertPeer('peerB', [])
  const files: FileTuple[] = Array.from({ length: 30 }, (_, i) => [CID(i), `night drive ${i}.mp3`, i])
  index.register(a, files, { maxFilesPerPeer: 100 })
  const match = matchExpression('night', LIMITS)
  const first = index.search(match, 10)
  assert.deepEqual(index.hitCounts, { hits: 0, misses: 1 })
  const again = index.search(match, 10)
  assert.deepEqual(index.hitCounts, { hits: 1, misses: 1 })
  assert.deepEqual(again.json, first.json)
  assert.deepEqual(again.peers, [a.row])
  // a second provider moves file 17 to the top: the cached entry of file 17 is dropped
  index.register(b, [files[17]], { maxFilesPerPeer: 100 })
  const moved = index.searchHits(match, 10)
  assert.deepEqual([moved[0][1], moved[0][3], moved[0][4]], ['night drive 17.mp3', 2, [a.row, b.row]])
  assert.deepEqual(moved, plain.searchHits(match, 10))
  // and when it leaves, the file drops back
  index.unregister(b, [CID(17)])
  assert.deepEqual(index.searchHits(match, 30), plain.searchHits(match, 30))
  assert.equal(index.searchHits(match, 30)[17][1], 'night drive 17.mp3')
  // without the cache the reply is built in one piece: the same bytes and peers as the cached path
  const cached = index.search(match, 30)
  const joined = plain.search(match, 30)
  assert.deepEqual([Buffer.from(joined.json).toString(), joined.peers, joined.count], [Buffer.from(cached.json).toString(), cached.peers, cached.count])
  assert.deepEqual(plain.hitCounts, { hits: 0, misses: 0 })
  // bounded: a small cache keeps at most its size, and answers the same
  const small = new DirectoryIndex(path, { providersPerHit: 2, hitCacheEntries: 5 })
  t.after(() => { small.close() })
  for (let i = 0; i < 3; i++) assert.deepEqual(small.searchHits(match, 30), plain.searchHits(match, 30))
  assert.equal(small.cachedHits, 5)
  assert.equal(plain.cachedHits, 0)
})

test('unregister and peer removal move files down the ranking and drop them at zero', async (t) => {
  const { index } = await open(t)
  const a = index.upsertPeer('peerA', [])
  const b = index.upsertPeer('peerB', [])
  index.register(a, [[CID(1), 'one.txt', 1], [CID(2), 'two.txt', 2]], { maxFilesPerPeer: 10 })
  index.register(b, [[CID(2), 'two.txt', 2], [CID(3), 'three.txt', 3]], { maxFilesPerPeer: 10 })
  assert.deepEqual(names(index, 'txt'), ['two.txt', 'one.txt', 'three.txt'])
  assert.deepEqual(index.unregister(a, [CID(2), CID(42)]), { removed: 1 })
  assert.deepEqual(names(index, 'txt'), ['one.txt', 'two.txt', 'three.txt'])
  assert.equal(index.removePeer(b, 1), 1, 'one entry left after a batch of one')
  assert.equal(index.removePeer(b, 1), 0)
  assert.equal(index.peer('peerB'), undefined)
  assert.deepEqual(names(index, 'txt'), ['one.txt'])
  assert.equal(index.files, 1)
  assert.equal(index.shares, 1)
})

test('a peer over its file limit is refused as a whole; duplicates do not count', async (t) => {
  const { index } = await open(t)
  const a = index.upsertPeer('peerA', [])
  index.register(a, [[CID(1), 'a.txt', 1], [CID(2), 'b.txt', 1]], { maxFilesPerPeer: 3 })
  assert.throws(() => index.register(a, [[CID(3), 'c.txt', 1], [CID(4), 'd.txt', 1]], { maxFilesPerPeer: 3 }), PeerLimitError)
  assert.equal(a.files, 2)
  assert.deepEqual(names(index, 'txt').sort(), ['a.txt', 'b.txt'])
  assert.deepEqual(index.register(a, [[CID(1), 'a.txt', 1], [CID(2), 'b.txt', 1], [CID(3), 'c.txt', 1]], { maxFilesPerPeer: 3 }), { added: 1 })
  // reset replaces the list
  index.register(a, [[CID(9), 'z.txt', 1]], { maxFilesPerPeer: 3, reset: true })
  assert.deepEqual(names(index, 'txt'), ['z.txt'])
})

test('the index persists: a reopened database answers as before, digests included', async (t) => {
  const { path, index } = await open(t)
  const a = index.upsertPeer('peerA', ['/ip4/10.0.0.1/tcp/1/p2p/peerA'])
  index.register(a, [[CID(1), '東京の夜景.jpg', 1]], { maxFilesPerPeer: 10 })
  index.setDigest(a, 'abc')
  index.maintain()
  index.close()
  const again = new DirectoryIndex(path)
  t.after(() => { again.close() })
  assert.deepEqual(names(again, '夜景'), ['東京の夜景.jpg'])
  assert.equal(again.peer('peerA')?.digest, 'abc')
  assert.deepEqual(again.peer('peerA')?.addrs, ['/ip4/10.0.0.1/tcp/1/p2p/peerA'])
  assert.equal(again.files, 1)
})

test('maintenance merges the FTS5 segments into one once writes are quiet; results unchanged', async (t) => {
  const { index } = await open(t)
  const peers = Array.from({ length: 6 }, (_, i) => index.upsertPeer(`peer${i}`, []))
  // each REGISTER is a transaction, and each leaves a segment
  for (let i = 0; i < 60; i++) {
    index.register(peers[i % 6], [[CID(i), `${i % 2 === 0 ? 'love' : 'hate'} ${i % 3 === 0 ? 'music' : 'noise'} ${i}.mp3`, i]], { maxFilesPerPeer: 100 })
  }
  for (let i = 0; i < 20; i++) index.register(peers[(i + 1) % 6], [[CID(i), `${i % 2 === 0 ? 'love' : 'hate'} ${i % 3 === 0 ? 'music' : 'noise'} ${i}.mp3`, i]], { maxFilesPerPeer: 100 })
  const before = ['love', 'love music', 'hate noise', 'music'].map(q => names(index, q))
  const segments = index.segments()
  assert.ok(segments > 1, `${segments} segments after the writes`)
  // writes not yet quiet: merges by level only (FTS5's automerge policy), at least one step
  assert.equal(index.maintain({ pages: 4, quietMs: 60_000 }), true)
  // quiet: merged into one, a bounded step at a time
  let steps = 0
  while (index.maintain({ pages: 4, quietMs: 0 })) steps++
  assert.ok(steps < 1_000)
  assert.equal(index.segments(), 1)
  assert.equal(index.maintain({ quietMs: 0 }), false, 'nothing more to do until the next write')
  assert.deepEqual(['love', 'love music', 'hate noise', 'music'].map(q => names(index, q)), before)
  assert.deepEqual(before[1].slice(0, 2), ['love music 0.mp3', 'love music 6.mp3'], 'two providers first, then by age')
})
