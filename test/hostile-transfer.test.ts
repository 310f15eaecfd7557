/**
 * Hostile transfers against real `sedai` daemons on 127.0.0.1: lying and
 * dying seeders, and a seeder whose manifest names a file outside the
 * download folder. Each test prints its figures (t.diagnostic).
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'
import { DEFAULTS, FramedStream, TRANSFER_PROTOCOL, createNode, manifestCid, sha256 } from '@sedai/core'
import { MAX_REQUEST_FRAME_BYTES } from '../packages/core/src/transfer/constants.ts'
import { decodeRequest, encodeChunkReply, encodeOpenReply, MessageType, Status } from '../packages/core/src/transfer/messages.ts'
import { startDaemon } from './helpers/testnet.ts'
import { sha256File, writeRandomFile } from './helpers/files.ts'
import type { TestDaemon } from './helpers/testnet.ts'
import type { TestContext } from 'node:test'

const MiB = 1024 * 1024

async function workdir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-hostile-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** GET on a daemon's control API from this process: cheaper than a CLI process while polling. */
async function apiGet (d: TestDaemon, route: string): Promise<any> {
  const { url, token } = JSON.parse(await readFile(join(d.repo, 'api'), 'utf8'))
  const res = await fetch(`${url}/api/v1/${route}`, { headers: { authorization: `Bearer ${token}` } })
  return await res.json()
}

test('five seeders, one corrupting 1% / 10% / 100% of chunks, one SIGKILLed at 50%: right bytes, the liar banned after at most maxBadChunksPerPeer bad chunks, no honest peer blamed', async (t) => {
  const dir = await workdir(t)
  const size = 64 * MiB
  // 4 MiB/s per seeder: the download takes seconds, so "at 50%" can be caught. No mode (--mode
  // none): the figures are the transfer's, without the default DHT's lookups on the same connections
  const rate = ['--mode', 'none', '--upload-rate', String(4 * MiB)]
  const honest = await Promise.all([0, 1, 2].map(async () => await startDaemon(t, { args: rate })))
  const b = await startDaemon(t, { args: ['--mode', 'none'] })
  const max = DEFAULTS.maxBadChunksPerPeer
  for (const corrupt of [0.01, 0.1, 1]) {
    const src = join(dir, `file-${corrupt}.bin`)
    await writeRandomFile(src, size)
    const liar = await startDaemon(t, { args: [...rate, '--fault-corrupt', String(corrupt)] })
    const victim = await startDaemon(t, { args: rate })
    const seeders = [...honest, liar, victim]
    let cid = ''
    for (const s of seeders) {
      const r = await s.cli(['share', src])
      assert.equal(r.code, 0, r.stderr)
      cid = r.json.cid
    }
    // B's counters add up over the three runs
    const before = (await apiGet(b, 'stats')).transfer ?? {}
    const out = join(dir, `out-${corrupt}.bin`)
    const started = Date.now()
    const get = b.cli(['get', cid, '-o', out, ...seeders.flatMap(s => ['--from', s.addrs[0]])])
    let killedAt = 0
    let victimServed = 0
    while (true) {
      const now = ((await apiGet(b, 'stats')).transfer?.bytesFetched ?? 0) - (before.bytesFetched ?? 0)
      if (now >= size / 2) {
        victimServed = (await apiGet(victim, 'stats')).transfer?.chunksServed ?? 0
        await victim.kill()
        killedAt = now
        break
      }
      await sleep(20)
    }
    const got = await get
    const ms = Date.now() - started
    assert.equal(got.code, 0, got.stderr)
    const liarStats = (await apiGet(liar, 'stats')).transfer ?? {}
    const rejected = ((await apiGet(b, 'stats')).transfer?.chunksRejected ?? 0) - (before.chunksRejected ?? 0)
    t.diagnostic(`corrupt ${corrupt * 100}%: ${size / MiB} MiB in ${ms} ms; liar served ${liarStats.chunksServed ?? 0} chunks, ${liarStats.chunksCorruptedOnPurpose ?? 0} corrupted; B rejected ${rejected} (limit ${max}); victim SIGKILLed at ${(killedAt / size * 100).toFixed(1)}% after serving ${victimServed} chunks; sources ${got.json.sources.length}; badPeers ${JSON.stringify(got.json.badPeers.map((p: string) => p === liar.peerId ? 'liar' : p))}`)
    assert.equal(await sha256File(out), await sha256File(src))
    assert.ok(killedAt < size, 'the victim died before the download ended')
    assert.ok(rejected <= max, `B read at most ${max} bad chunk(s) from the liar, read ${rejected}`)
    // the liar is banned as soon as B has read `max` of its bad chunks, and nobody else ever is
    assert.deepEqual(got.json.badPeers, rejected >= max ? [liar.peerId] : [])
    if (corrupt === 1) assert.deepEqual(got.json.badPeers, [liar.peerId], 'a liar corrupting every chunk is banned')
    for (const h of honest) assert.ok(got.json.sources.includes(h.peerId), 'every honest seeder delivered')
    assert.ok(!got.json.badPeers.includes(victim.peerId), 'the killed seeder is not blamed')
    await liar.stop()
  }
})

/**
 * A libp2p node in this process serving /sedai/transfer/1.0.0 with a
 * manifest of our making: a real transport, a hostile application.
 */
async function hostileSeeder (t: TestContext, data: Uint8Array): Promise<{ addr: string, serve: (name: string) => Promise<string>, chunkRequests: () => number }> {
  const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.after(async () => { await node.stop() })
  const chunkSize = DEFAULTS.minChunkSize
  const n = Math.ceil(data.byteLength / chunkSize)
  const hashes = new Uint8Array(n * 32)
  for (let i = 0; i < n; i++) hashes.set(sha256(data.subarray(i * chunkSize, (i + 1) * chunkSize)), i * 32)
  const manifests = new Map<string, Uint8Array>()
  let requests = 0
  await node.handle(TRANSFER_PROTOCOL, async (stream) => {
    const framed = new FramedStream(stream, { maxFrameBytes: MAX_REQUEST_FRAME_BYTES, idleTimeoutMs: 10_000 })
    try {
      const open = decodeRequest(await framed.read() as Uint8Array)
      if (open.type !== MessageType.OPEN) return framed.abort(new Error('not OPEN'))
      const manifest = manifests.get(CID.decode(open.cid).toString())
      await framed.write(...encodeOpenReply({ status: Status.OK, manifest: open.wantManifest ? manifest : undefined }))
      for (let f = await framed.read(); f !== undefined; f = await framed.read()) {
        const req = decodeRequest(f)
        if (req.type !== MessageType.CHUNK_REQUEST) break
        requests++
        await framed.write(...encodeChunkReply({ status: Status.OK, index: req.index, data: data.subarray(req.index * chunkSize, (req.index + 1) * chunkSize) }))
      }
      await framed.close()
    } catch {}
  })
  const addr = node.getMultiaddrs()[0].toString()
  // the manifest is encoded by hand: encodeManifest would refuse these names
  const serve = async (name: string): Promise<string> => {
    const bytes = dagCbor.encode({ v: 1, name, size: data.byteLength, chunkSize, hashes })
    const cid = (await manifestCid(bytes)).toString()
    manifests.set(cid, bytes)
    return cid
  }
  return { addr, serve, chunkRequests: () => requests }
}

async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false)
}

test('a seeder whose manifest names ../../x, /etc/x or a\\0b: get fails, nothing is written outside (or inside) the output folder', async (t) => {
  const dir = await workdir(t)
  const data = new Uint8Array(3 * DEFAULTS.minChunkSize + 5).map((_, i) => i * 7)
  const hostile = await hostileSeeder(t, data)
  const b = await startDaemon(t)
  // out = dir/a/b, so ../../x would land on dir/x
  const out = join(dir, 'a', 'b')
  await mkdir(out, { recursive: true })

  // the control: a plain name from the same hostile node downloads, so the refusals below are the names'
  const okCid = await hostile.serve('plain.bin')
  const ok = await b.cli(['get', okCid, '-o', out, '--from', hostile.addr, '--timeout-ms', '20000'])
  assert.equal(ok.code, 0, ok.stderr)
  assert.equal(ok.json.path, join(out, 'plain.bin'))
  await rm(ok.json.path)
  const requestsForPlain = hostile.chunkRequests()

  const names = ['../../x', '/etc/x', 'a\0b', '..', 'sub/x', 'a\\b', '../' + 'y'.repeat(10)]
  const watched = [join(dir, 'x'), join(dir, 'a', 'x'), '/etc/x', join(tmpdir(), 'x'), join(b.repo, 'x')]
  const before = await Promise.all(watched.map(exists))
  const rows: string[] = []
  for (const name of names) {
    const cid = await hostile.serve(name)
    // with -o (the name would be appended) and without (the name would go under <repo>/files)
    for (const args of [['-o', out], []]) {
      const r = await b.cli(['get', cid, ...args, '--from', hostile.addr, '--timeout-ms', '20000'])
      rows.push(`${JSON.stringify(name)}${args.length > 0 ? ' -o' : ''}: exit ${r.code} ${r.json?.error?.code ?? ''}`)
      assert.equal(r.code, 1, `${JSON.stringify(name)}: ${r.stdout}`)
      assert.match(r.stderr, /not a plain file name/)
      assert.equal(r.json?.error?.code, 'ERR_INVALID_MANIFEST', r.stdout)
    }
  }
  t.diagnostic(`hostile manifest names: ${rows.join('; ')}; chunk requests after the manifests: ${hostile.chunkRequests() - requestsForPlain}`)
  assert.equal(hostile.chunkRequests(), requestsForPlain, 'no chunk was asked for under a hostile name')
  assert.deepEqual(await readdir(out), [], 'nothing written in the output folder')
  assert.deepEqual((await readdir(dir)).sort(), ['a'], 'nothing written next to it')
  assert.deepEqual(await readdir(join(dir, 'a')), ['b'])
  assert.deepEqual(await Promise.all(watched.map(exists)), before, 'no file appeared where the names point')
  const files = await readdir(join(b.repo, 'files')).catch(() => [])
  assert.deepEqual(files, [], 'nothing written in the default folder')
  const parts = await readdir(join(b.repo, 'downloads')).catch(() => [])
  assert.deepEqual(parts, [], 'no partial download was begun')
})
