import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { buildManifest } from '../../src/store/manifest.ts'
import { checkDestination, fileMatches, placeFile, placeVerifiedCopy } from '../../src/store/place.ts'
import type { TestContext } from 'node:test'

const CHUNK = 16 * 1024

async function workdir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-place-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('placeFile: a second name without replacing, over a different file only when asked; the same inode is a finished move', async (t) => {
  const dir = await workdir(t)
  const from = join(dir, 'from.part')
  await writeFile(from, 'content')
  const to = join(dir, 'to.bin')
  await placeFile(from, to, false)
  assert.equal((await stat(to)).ino, (await stat(from)).ino)
  // a crash after the link: placing again finishes it
  await placeFile(from, to, false)

  const taken = join(dir, 'taken.bin')
  await writeFile(taken, 'mine')
  await assert.rejects(placeFile(from, taken, false), { code: 'ERR_DESTINATION_EXISTS', message: /taken\.bin already exists/ })
  assert.equal(await readFile(taken, 'utf8'), 'mine')
  await placeFile(from, taken, true)
  assert.equal(await readFile(taken, 'utf8'), 'content')
  assert.deepEqual((await readdir(dir)).sort(), ['from.part', 'taken.bin', 'to.bin'], 'no temporary names left')
})

test('placeVerifiedCopy: only bytes that match the manifest land; fileMatches and checkDestination', async (t) => {
  const dir = await workdir(t)
  const data = randomBytes(2 * CHUNK + 3)
  const src = join(dir, 'src.bin')
  await writeFile(src, data)
  const { manifest } = await buildManifest(src, { chunkSize: CHUNK })
  assert.equal(await fileMatches(src, manifest), true)
  assert.equal(await fileMatches(join(dir, 'missing'), manifest), false)
  assert.equal(await fileMatches(dir, manifest), false, 'a folder is not the file')

  const good = join(dir, 'good.bin')
  assert.equal(await placeVerifiedCopy(src, good, manifest, false), true)
  assert.deepEqual(await readFile(good), data)

  const changed = Buffer.from(data)
  changed[CHUNK + 1] ^= 1
  await writeFile(src, changed)
  assert.equal(await fileMatches(src, manifest), false)
  const bad = join(dir, 'bad.bin')
  assert.equal(await placeVerifiedCopy(src, bad, manifest, false), false)
  assert.deepEqual((await readdir(dir)).sort(), ['good.bin', 'src.bin'], 'nothing placed, no temporary file left')

  // a destination: free, the same bytes, a different file (refused unless replacing)
  await checkDestination({ path: bad, replace: false }, manifest)
  await checkDestination({ path: good, replace: false }, manifest)
  await assert.rejects(checkDestination({ path: src, replace: false }, manifest), { code: 'ERR_DESTINATION_EXISTS' })
  await checkDestination({ path: src, replace: true }, manifest)
})
