import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { seededRandom } from '@sedai/core'
import { parseTopology } from '../src/topology.ts'
import { fileSet, plan, writeFiles, zipfSampler } from '../src/workload.ts'

test('the Zipf sampler follows 1/k^s', () => {
  const pick = zipfSampler(10, 1, seededRandom(7))
  const counts = new Array(10).fill(0)
  for (let i = 0; i < 100_000; i++) counts[pick()]++
  const h10 = Array.from({ length: 10 }, (_, k) => 1 / (k + 1)).reduce((a, b) => a + b)
  for (let k = 0; k < 10; k++) {
    const expected = 100_000 / (k + 1) / h10
    assert.ok(Math.abs(counts[k] - expected) < expected * 0.06, `rank ${k}: ${counts[k]} vs ${expected.toFixed(0)}`)
  }
  const flat = zipfSampler(4, 0, seededRandom(1))
  const c = new Array(4).fill(0)
  for (let i = 0; i < 40_000; i++) c[flat()]++
  for (const n of c) assert.ok(Math.abs(n - 10_000) < 600, `s = 0 is uniform: ${c.join(',')}`)
})

test('the plan is the same for the same seed, and no holder searches for its own file', () => {
  const t = parseTopology(JSON.stringify({ name: 'p', files: { count: 12, replicas: 2 }, workload: { searches: 50, downloads: 10 }, networks: [{ generation: 'flood', peers: 8 }] }))
  const a = plan(8, t.files, t.workload, 5)
  assert.deepEqual(plan(8, t.files, t.workload, 5), a)
  assert.notDeepEqual(plan(8, t.files, t.workload, 6), a)
  assert.equal(a.holders.length, 12)
  for (const h of a.holders) assert.equal(new Set(h).size, 2)
  for (const s of a.searches) assert.ok(!a.holders[s.file].includes(s.searcher), `search ${s.seq}`)
  assert.equal(a.searches.filter(s => s.download).length, 10)
  // Zipf: the hottest file is asked for most
  const byFile = new Array(12).fill(0)
  for (const s of a.searches) byFile[s.file]++
  assert.equal(byFile.indexOf(Math.max(...byFile)), 0)
})

test('files are distinct, deterministic and named by a unique token', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lab-files-'))
  try {
    const files = fileSet({ count: 12, bytes: 1000, replicas: 1 })
    assert.equal(new Set(files.map(f => f.token)).size, 12)
    for (const f of files) assert.equal(files.filter(g => g.name.includes(f.token)).length, 1, `${f.token} names one file`)
    const paths = await writeFiles(dir, files, 9)
    const hashes = await Promise.all(paths.map(async p => createHash('sha256').update(await readFile(p)).digest('hex')))
    assert.equal(new Set(hashes).size, 12)
    assert.equal((await readFile(paths[3])).length, 1000)
    const again = await mkdtemp(join(tmpdir(), 'lab-files-'))
    const paths2 = await writeFiles(again, files, 9)
    assert.deepEqual(await readFile(paths2[5]), await readFile(paths[5]))
    await rm(again, { recursive: true, force: true })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('plan: no downloads when the workload asks for none', () => {
  const t = parseTopology(JSON.stringify({ name: 'p', workload: { searches: 20, downloads: 0 }, networks: [{ generation: 'flood', peers: 8 }] }))
  assert.equal(plan(8, t.files, t.workload, 1).searches.filter(s => s.download).length, 0)
  const some = parseTopology(JSON.stringify({ name: 'p', workload: { searches: 20, downloads: 5 }, networks: [{ generation: 'flood', peers: 8 }] }))
  assert.equal(plan(8, some.files, some.workload, 1).searches.filter(s => s.download).length, 5)
})
