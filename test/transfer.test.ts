/**
 * The foundation's acceptance tests: real `sedai` daemons and CLI processes
 * on 127.0.0.1, moving real files.
 */
import assert from 'node:assert/strict'
import { copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { createTestnet, startDaemon } from './helpers/testnet.ts'
import { sha256File, writeRandomFile } from './helpers/files.ts'
import type { TestContext } from 'node:test'

const MiB = 1024 * 1024

async function workdir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-files-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

test('two daemons: B gets a 50 MiB file and a Japanese-named file from A by CID, byte for byte', async (t) => {
  const dir = await workdir(t)
  const { nodes: [a, b] } = await createTestnet({ size: 2 }, t)
  const big = join(dir, 'random-50MiB.bin')
  const jp = join(dir, 'ピアツーピア入門.pdf')
  await writeRandomFile(big, 50 * MiB)
  await writeRandomFile(jp, 3 * MiB + 12345)

  const s1 = await a.cli(['share', big])
  const s2 = await a.cli(['share', jp])
  assert.equal(s1.code, 0, s1.stderr)
  assert.equal(s2.code, 0, s2.stderr)
  assert.equal(s2.json.name, 'ピアツーピア入門.pdf')
  assert.match(s1.json.cid, /^bafy/)

  const ls = await a.cli(['ls'])
  assert.deepEqual(ls.json.files.map((f: any) => f.name).sort(), ['random-50MiB.bin', 'ピアツーピア入門.pdf'].sort())

  for (const [shared, src] of [[s1.json, big], [s2.json, jp]] as const) {
    const out = join(dir, `got-${shared.name}`)
    const got = await b.cli(['get', shared.cid, '-o', out, '--from', a.addrs[0]])
    assert.equal(got.code, 0, got.stderr)
    assert.equal(got.json.size, shared.size)
    assert.deepEqual(got.json.sources, [a.peerId])
    assert.equal(await sha256File(out), await sha256File(src))
  }
  const again = await b.cli(['get', s2.json.cid, '--from', a.addrs[0]])
  assert.equal(again.code, 0, again.stderr)
  assert.equal(again.json.fetched, 0, 'a file B already has is not fetched again')

  const stats = await a.cli(['stats'])
  assert.ok(stats.json.transfer.bytesServed >= 53 * MiB, JSON.stringify(stats.json.transfer))
  assert.ok(stats.json.messages.transfer.out.CHUNK_REPLY >= 54)
})

test('three seeders, one corrupting every chunk: the download completes, bytes identical, the liar is reported', async (t) => {
  const dir = await workdir(t)
  const src = join(dir, 'file.bin')
  await writeRandomFile(src, 40 * MiB + 7)
  const honest1 = await startDaemon(t)
  const honest2 = await startDaemon(t)
  const liar = await startDaemon(t, { args: ['--fault-corrupt', '1'] })
  const b = await startDaemon(t)
  let cid = ''
  for (const seeder of [honest1, honest2, liar]) {
    // each seeder shares its own copy of the file: same bytes, same name, same CID
    const own = join(dir, seeder.peerId)
    await rm(own, { recursive: true, force: true })
    await (await import('node:fs/promises')).mkdir(own)
    await copyFile(src, join(own, 'file.bin'))
    const r = await seeder.cli(['share', join(own, 'file.bin')])
    assert.equal(r.code, 0, r.stderr)
    cid = r.json.cid
  }
  const out = join(dir, 'out.bin')
  const got = await b.cli(['get', cid, '-o', out, '--from', honest1.addrs[0], '--from', honest2.addrs[0], '--from', liar.addrs[0]])
  assert.equal(got.code, 0, got.stderr)
  assert.equal(await sha256File(out), await sha256File(src))
  assert.deepEqual(got.json.badPeers, [liar.peerId])
  assert.ok(!got.json.sources.includes(liar.peerId))
  assert.equal(got.json.sources.length, 2, 'both honest seeders delivered chunks')
  assert.match(b.logs(), /corrupted chunks|failed verification/)
})

test('a download killed mid-way resumes after restart without fetching verified chunks again', async (t) => {
  const dir = await workdir(t)
  const src = join(dir, 'slow.bin')
  const size = 48 * MiB
  await writeRandomFile(src, size)
  // the seeder uploads at 16 MiB/s, so the download takes ~3 s and can be cut
  const seeder = await startDaemon(t, { args: ['--upload-rate', String(16 * MiB)] })
  const shared = await seeder.cli(['share', src])
  const repoB = await mkdtemp(join(tmpdir(), 'sedai-test-'))
  t.after(async () => { await rm(repoB, { recursive: true, force: true }) })
  const b1 = await startDaemon(t, { repo: repoB })
  const out = join(dir, 'out.bin')
  const first = b1.cli(['get', shared.json.cid, '-o', out, '--from', seeder.addrs[0]])
  // wait until a good part has arrived (and been checkpointed), then crash B;
  // polled over HTTP from here: a CLI process per poll took seconds on a loaded
  // machine, long enough for the whole download to finish first
  const api = JSON.parse(await readFile(join(repoB, 'api'), 'utf8'))
  while (true) {
    const s = await (await fetch(`${api.url}/api/v1/stats`, { headers: { authorization: `Bearer ${api.token}` } })).json() as any
    if ((s.transfer?.bytesFetched ?? 0) >= 20 * MiB) break
    await sleep(50)
  }
  await sleep(600) // one checkpoint interval
  await b1.kill()
  const cut = await first
  assert.notEqual(cut.code, 0, 'the first get fails when its daemon dies')

  const b2 = await startDaemon(t, { repo: repoB })
  const second = await b2.cli(['get', shared.json.cid, '-o', out, '--from', seeder.addrs[0]])
  assert.equal(second.code, 0, second.stderr)
  assert.ok(second.json.resumed >= 16 * MiB, `resumed ${second.json.resumed}`)
  assert.ok(second.json.fetched < size, `fetched ${second.json.fetched} of ${size}`)
  assert.equal(second.json.fetched + second.json.resumed, size)
  assert.equal(await sha256File(out), await sha256File(src))
  t.diagnostic(`resumed ${second.json.resumed} bytes, fetched ${second.json.fetched} of ${size}`)
})

test('get -o leaves the file where asked: a held file is copied (nothing fetched), a resumed download goes to the latest -o, a changed file is replaced only with --force', async (t) => {
  const dir = await workdir(t)
  // A serves at 4 MiB/s, so a get with a short deadline stops part-way
  const a = await startDaemon(t, { args: ['--upload-rate', '4M'] })
  const b = await startDaemon(t)
  const src = join(dir, 'report.pdf')
  await writeRandomFile(src, 3 * MiB + 77)
  const shared = await a.cli(['share', src])
  assert.equal(shared.code, 0, shared.stderr)
  const cid: string = shared.json.cid
  const x1 = join(dir, 'x1.pdf')
  const x2 = join(dir, 'x2.pdf')

  const first = await b.cli(['get', cid, '-o', x1, '--from', a.addrs[0]])
  assert.equal(first.code, 0, first.stderr)
  assert.equal(first.json.path, x1)
  assert.equal(first.json.fetched, shared.json.size)
  const second = await b.cli(['get', cid, '-o', x2, '--from', a.addrs[0]])
  assert.equal(second.code, 0, second.stderr)
  assert.equal(second.json.path, x2)
  assert.equal(second.json.fetched, 0, 'B holds the file: copied, not fetched')
  assert.equal(await sha256File(x1), await sha256File(src))
  assert.equal(await sha256File(x2), await sha256File(src))
  // a folder means the manifest's name in it, as before
  const folder = join(dir, 'folder')
  await mkdir(folder)
  const third = await b.cli(['get', cid, '-o', folder])
  assert.equal(third.code, 0, third.stderr)
  assert.equal(third.json.path, join(folder, 'report.pdf'))

  // the user edits x1: get -o x1 refuses to overwrite it, then replaces it with --force
  await writeFile(x1, 'my edits')
  const refused = await b.cli(['get', cid, '-o', x1])
  assert.equal(refused.code, 1)
  assert.equal(refused.json.error.code, 'ERR_DESTINATION_EXISTS')
  assert.match(refused.stderr, /x1\.pdf already exists.*--force/)
  assert.equal(await readFile(x1, 'utf8'), 'my edits')
  const forced = await b.cli(['get', cid, '-o', x1, '--force'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.equal(forced.json.fetched, 0)
  assert.equal(await sha256File(x1), await sha256File(src))

  // a download cut short by its deadline, resumed with another -o, ends there. The seeder serves
  // 8 MiB at 1 MiB/s, and the first attempts get 1.5 s, then 3 s: a busy machine may take the
  // first one to start, but not both, and together they cannot finish the file.
  const slow = await startDaemon(t, { args: ['--mode', 'none', '--upload-rate', '1M'] })
  const big = join(dir, 'big.bin')
  await writeRandomFile(big, 8 * MiB)
  const bigShared = await slow.cli(['share', big])
  assert.equal(bigShared.code, 0, bigShared.stderr)
  const c = await startDaemon(t, { args: ['--mode', 'none'] })
  const y1 = join(dir, 'y1.bin')
  const y2 = join(dir, 'y2.bin')
  for (const timeoutMs of [1500, 3000]) {
    const cut = await c.cli(['get', bigShared.json.cid, '-o', y1, '--from', slow.addrs[0], '--timeout-ms', String(timeoutMs)])
    assert.equal(cut.code, 1, 'the attempt runs out of time')
    if ((await c.cli(['stats'])).json.transfer.chunksFetched > 0) break
  }
  const resumed = await c.cli(['get', bigShared.json.cid, '-o', y2, '--from', slow.addrs[0]])
  assert.equal(resumed.code, 0, resumed.stderr)
  assert.equal(resumed.json.path, y2)
  assert.ok(resumed.json.resumed > 0 && resumed.json.fetched < 8 * MiB, JSON.stringify(resumed.json))
  assert.equal(await sha256File(y2), await sha256File(big))
  await assert.rejects(stat(y1), { code: 'ENOENT' })
})

test('get of an unknown CID fails with exit 1 and a clear message within its timeout', async (t) => {
  const { nodes: [a, b] } = await createTestnet({ size: 2 }, t)
  // a well-formed CID nobody has
  const unknown = 'bafyreihxczwslh7lwby4lekmuzhr2qestpejhdofm2dl2snanwfv7uohc4'
  const started = Date.now()
  const r = await b.cli(['get', unknown, '--from', a.addrs[0], '--timeout-ms', '5000'])
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^error: .+/m)
  assert.equal(r.json.error.code.startsWith('ERR_'), true)
  assert.ok(Date.now() - started < 8000)

  const c = await startDaemon(t)
  const r2 = await c.cli(['get', unknown, '--timeout-ms', '3000'])
  assert.equal(r2.code, 1)
  assert.match(r2.stderr, /error: .*(no source|not found|no peer)/i)
  // a malformed CID is a usage error
  const r3 = await c.cli(['get', 'not-a-cid'])
  assert.equal(r3.code, 2)
  assert.match(r3.stderr, /error: .*cid/i)
})

test('the control API refuses requests without the token, with a foreign Host or Origin, and GET on a mutating route', async (t) => {
  const a = await startDaemon(t)
  const api = JSON.parse(await readFile(join(a.repo, 'api'), 'utf8'))
  assert.equal((await stat(join(a.repo, 'api'))).mode & 0o777, 0o600)
  const url = new URL(api.url)
  const call = async (method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> => {
    return await new Promise((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, method, path, headers }, res => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', reject)
      req.end(body)
    })
  }
  const auth = { authorization: `Bearer ${api.token}`, host: url.host }
  assert.equal(await call('GET', '/api/v1/id', auth), 200)
  assert.equal(await call('GET', '/api/v1/id', { host: url.host }), 401)
  assert.equal(await call('GET', '/api/v1/id', { ...auth, authorization: 'Bearer wrong' }), 401)
  assert.equal(await call('GET', '/api/v1/id', { ...auth, host: `evil.example:${url.port}` }), 403)
  assert.equal(await call('GET', '/api/v1/id', { ...auth, origin: 'http://evil.example' }), 403)
  assert.equal(await call('GET', '/api/v1/share', auth), 405)
  assert.equal(await call('GET', '/api/v1/stop', auth), 405)
  assert.equal(await call('POST', '/api/v1/share', { ...auth, 'content-type': 'application/json' }, '{"path": 5}'), 400)
  // the daemon is still up after all that
  assert.equal((await a.cli(['id'])).code, 0)
})

test('without --from, get asks the connected peers; a file changed on disk is never served', async (t) => {
  const dir = await workdir(t)
  // no mode: with the default (dht) the sources would be the DHT's providers, not the connected peers
  const { nodes: [a, b, c] } = await createTestnet({ size: 3, mode: 'none' }, t)
  const src = join(dir, 'doc.bin')
  await writeRandomFile(src, 5 * MiB)
  const shared = await a.cli(['share', src])
  // B knows C and A; only A has the file
  assert.equal((await b.cli(['connect', c.addrs[0]])).code, 0)
  assert.equal((await b.cli(['connect', a.addrs[0]])).code, 0)
  const got = await b.cli(['get', shared.json.cid, '-o', join(dir, 'copy.bin')])
  assert.equal(got.code, 0, got.stderr)
  assert.deepEqual(got.json.sources, [a.peerId])
  const peers = await b.cli(['peers'])
  assert.deepEqual(peers.json.peers.map((p: any) => p.peerId).sort(), [a.peerId, c.peerId].sort())

  // edit A's file in place (same size): A must notice and refuse to serve it
  const fh = await (await import('node:fs/promises')).open(src, 'r+')
  await fh.write(Buffer.from('edited'), 0, 6, 3 * MiB)
  await fh.close()
  const r = await c.cli(['get', shared.json.cid, '--from', a.addrs[0], '-o', join(dir, 'c.bin'), '--timeout-ms', '10000'])
  assert.equal(r.code, 1, 'the edited file is not served')
  assert.match(r.stderr, /^error: /m)
  await assert.rejects(stat(join(dir, 'c.bin')), 'nothing is moved into place')
  const ls = await a.cli(['ls'])
  assert.equal(ls.json.files.length, 0, 'the stale share is no longer listed')
  assert.match(a.logs(), /no longer matches its manifest/)
})
