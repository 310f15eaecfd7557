/**
 * Generation 3 (KaZaA, Winny, Freenet): real `sedai daemon --mode supernode`
 * processes on 127.0.0.1, none given a --role. Capacity is shaped by
 * configuration: 3 nodes upload without a cap, 9 are capped at 100 KiB/s,
 * so the probe measures them far below the threshold.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { CACHE_DIR } from '@sedai/supernode-cache-peer'
import { startDaemon, until } from './helpers/testnet.ts'
import { sha256File } from './helpers/files.ts'
import type { TestDaemon } from './helpers/testnet.ts'
import type { TestContext } from 'node:test'

const KiB = 1024
const MiB = 1024 * KiB
/** Faster STATUS exchange and role changes than the defaults, so a 12-node overlay settles in seconds. */
const ENV = { SEDAI_LOG_LEVEL: 'warn', SEDAI_SUPERNODE_MIN_ROLE_MS: '1000', SEDAI_SUPERNODE_KEEPALIVE_MS: '1000' }
const WEAK = ['--upload-rate', '100K']

async function workdir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-super-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}


async function info (d: TestDaemon): Promise<Record<string, any>> {
  const r = await d.cli(['id'])
  assert.equal(r.code, 0, r.stderr)
  return r.json.supernode
}

async function stats (d: TestDaemon): Promise<Record<string, any>> {
  const r = await d.cli(['stats'])
  assert.equal(r.code, 0, r.stderr)
  return r.json.supernode
}

/** A file of `size` bytes made of a repeated text marker, so a plaintext copy is easy to grep for. */
async function markedFile (path: string, marker: string, size: number): Promise<void> {
  const unit = Buffer.from(`${marker}:${Math.random().toString(36)}|`)
  const buf = Buffer.alloc(size)
  for (let i = 0; i < size; i += unit.byteLength) unit.copy(buf, i)
  await writeFile(path, buf)
}

async function allFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...await allFiles(p))
    else out.push(p)
  }
  return out
}

test('supernode: 3 capable nodes become supernodes and 9 weak ones leaves; hot file served from caches; encrypted cache; re-homing', { timeout: 600_000 }, async (t) => {
  const dir = await workdir(t)
  const first = await startDaemon(t, { args: ['--mode', 'supernode'], env: ENV })
  const boot = ['--bootstrap', first.addrs[0]]
  const strong = [first, ...await Promise.all([1, 2].map(async () => await startDaemon(t, { args: ['--mode', 'supernode', ...boot], env: ENV })))]
  const weak: TestDaemon[] = []
  for (let i = 0; i < 9; i += 3) {
    weak.push(...await Promise.all([0, 1, 2].map(async () => await startDaemon(t, { args: ['--mode', 'supernode', ...WEAK, ...boot], env: ENV }))))
  }

  await t.test('election: the capable nodes are supernodes, every weak node a leaf attached to one', async () => {
    const roles = await until('roles settle', 90_000, async () => {
      const s = await Promise.all(strong.map(info))
      const w = await Promise.all(weak.map(info))
      const ok = s.every(x => x.role === 'super') && w.every(x => x.role === 'leaf' && x.supernodes.length >= 1)
      return ok ? { s, w } : undefined
    })
    const supers = new Set(strong.map(d => d.peerId))
    for (const w of roles.w) {
      assert.ok(w.score === undefined || w.score < 0.6, `weak score ${w.score}`)
      for (const s of w.supernodes) assert.ok(supers.has(s), 'a leaf attaches to supernodes only')
    }
    console.log(`# roles: supernodes ${roles.s.map(x => `score ${x.score}, ${x.leaves} leaves`).join('; ')}; leaf scores ${roles.w.map(x => x.score).join(', ')}`)
    const peers = await strong[0].cli(['peers'])
    assert.equal(peers.code, 0)
    assert.ok(peers.json.peers.some((p: any) => p.supernode?.role !== undefined), '`sedai peers` shows roles')
  })

  const marker = 'SEDAI-PLAINTEXT-MARKER'
  const hot = join(dir, 'hot-ホット.bin')
  await markedFile(hot, marker, 2 * MiB + 12_345)
  const holder = weak[0]
  const shared = await holder.cli(['share', hot])
  assert.equal(shared.code, 0, shared.stderr)
  const cid = shared.json.cid as string
  const want = await sha256File(hot)

  await t.test('search from a leaf finds the file through the supernodes', async () => {
    const hits = await until('search hit', 20_000, async () => {
      const r = await weak[5].cli(['search', 'ホット', '--timeout-ms', '1500'])
      return r.code === 0 && r.json.results?.some((h: any) => h.cid === cid) === true ? r.json.results : undefined
    })
    assert.ok(hits.length >= 1)
  })

  await t.test('a hot file fetched by 8 leaves in turn: bytes verify, the holder serves < 40%', async () => {
    for (const [i, d] of weak.slice(1).entries()) {
      const out = join(dir, `hot-${i}.bin`)
      const r = await d.cli(['get', cid, '-o', out, '--timeout-ms', '60000'], { timeoutMs: 70_000 })
      assert.equal(r.code, 0, `leaf ${i + 1}: ${r.stderr}`)
      assert.equal(await sha256File(out), want, `leaf ${i + 1}: bytes identical`)
    }
    const delivered = 8 * (2 * MiB + 12_345)
    const origin = (await stats(holder)).bytesServed.origin as number
    const all = await Promise.all([...strong, ...weak].map(stats))
    const fromCache = all.reduce((a, s) => a + s.bytesServed.cache, 0)
    console.log(`# hot file: holder served ${origin} of ${delivered} bytes (${(100 * origin / delivered).toFixed(1)}%), caches served ${fromCache}; cache hit ratios ${all.slice(0, 3).map(s => s.cache.hitRatio).join(', ')}`)
    assert.ok(origin < 0.4 * delivered, `holder served ${origin} of ${delivered}`)
    assert.ok(fromCache > 0, 'caches served bytes')
  })

  await t.test("a supernode's cache folder holds no plaintext of what it cached", async () => {
    let blobs = 0
    for (const s of strong) {
      for (const f of await allFiles(join(s.repo, CACHE_DIR))) {
        blobs++
        const bytes = await readFile(f)
        assert.equal(bytes.includes(Buffer.from(marker)), false, `${f} holds plaintext`)
        assert.equal(bytes.includes(Buffer.from(cid)), false, `${f} holds the CID`)
      }
    }
    assert.ok(blobs > 0, 'something was cached')
  })

  await t.test('a leaf serving corrupted chunks poisons no cache', async () => {
    const liar = await startDaemon(t, { args: ['--mode', 'supernode', '--role', 'leaf', '--fault-corrupt', '1', ...boot], env: ENV })
    const bad = join(dir, 'bad.bin')
    await markedFile(bad, 'LIAR', 2 * MiB)
    const s = await liar.cli(['share', bad])
    assert.equal(s.code, 0, s.stderr)
    const badCid = s.json.cid as string
    await until('liar attached', 20_000, async () => ((await info(liar)).supernodes.length >= 1 ? true : undefined))
    const before = await Promise.all(strong.map(stats))
    const r = await weak[8].cli(['get', badCid, '-o', join(dir, 'bad-copy.bin'), '--timeout-ms', '20000'], { timeoutMs: 30_000 })
    assert.notEqual(r.code, 0, 'a download of corrupted chunks fails')
    const after = await Promise.all(strong.map(stats))
    const rejected = after.reduce((a, x, i) => a + (x.corruptRejected ?? 0) - (before[i].corruptRejected ?? 0), 0)
    assert.ok(rejected > 0, 'the supernodes on the path rejected the corrupted chunks')
    // nothing of it is advertised from a cache: a search finds only the liar
    const hits = await weak[7].cli(['search', 'bad.bin', '--timeout-ms', '1500'])
    assert.equal(hits.code, 0, hits.stderr)
    for (const h of hits.json.results) for (const p of h.providers) assert.equal(p, liar.peerId, 'no supernode advertises a cached copy')
    // an honest holder of the same bytes: the download then verifies, through the same supernodes
    // the same name and bytes make the same CID (the manifest holds the name)
    await mkdir(join(dir, 'honest'))
    await writeFile(join(dir, 'honest', 'bad.bin'), await readFile(bad))
    const honest = weak[6]
    const again = await honest.cli(['share', join(dir, 'honest', 'bad.bin')])
    assert.equal(again.json.cid, badCid)
    await liar.kill()
    const ok = await until('download from the honest holder', 40_000, async () => {
      const g = await weak[8].cli(['get', badCid, '-o', join(dir, 'good-copy.bin'), '--timeout-ms', '20000'], { timeoutMs: 30_000 })
      return g.code === 0 ? g : undefined
    })
    assert.equal(ok.code, 0)
    // a download resumes where the failed one left off, into that one's destination
    assert.equal(await sha256File(ok.json.path), await sha256File(bad))
  })

  await t.test('a supernode is killed: its leaves re-home and searches succeed again', async () => {
    const victim = strong[1]
    const orphans: TestDaemon[] = []
    for (const w of weak) if ((await info(w)).supernodes.includes(victim.peerId)) orphans.push(w)
    assert.ok(orphans.length > 0, 'the victim had leaves')
    const t0 = Date.now()
    await victim.kill()
    await until('leaves re-homed', 30_000, async () => {
      const all = await Promise.all(weak.map(info))
      return all.every(x => x.supernodes.length >= 1 && !x.supernodes.includes(victim.peerId)) ? true : undefined
    })
    console.log(`# re-homed ${orphans.length} leaves in ${Date.now() - t0} ms`)
    const r = await until('search after re-homing', 20_000, async () => {
      const s = await orphans[0].cli(['search', 'ホット', '--timeout-ms', '1500'])
      return s.code === 0 && s.json.results.some((h: any) => h.cid === cid) === true ? s : undefined
    })
    assert.equal(r.code, 0)
  })
})

test('supernode,dht: a get no supernode path can serve falls back to the DHT providers', { timeout: 120_000 }, async (t) => {
  const dir = await workdir(t)
  const holder = await startDaemon(t, { args: ['--mode', 'dht'], env: ENV })
  const bridge = await startDaemon(t, { args: ['--mode', 'supernode,dht', '--role', 'super', '--bootstrap', holder.addrs[0]], env: ENV })
  const file = join(dir, 'only-in-the-dht.bin')
  await markedFile(file, 'DHT', 300_000)
  const shared = await holder.cli(['share', file])
  assert.equal(shared.code, 0, shared.stderr)
  const r = await until('get through the DHT', 60_000, async () => {
    const g = await bridge.cli(['get', shared.json.cid, '-o', join(dir, `copy-${Date.now()}.bin`), '--timeout-ms', '20000'], { timeoutMs: 30_000 })
    return g.code === 0 ? g : undefined
  })
  assert.deepEqual(r.json.sources, [holder.peerId], 'fetched directly from the DHT provider')
  assert.equal(await sha256File(r.json.path), await sha256File(file))
})
