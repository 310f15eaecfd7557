/**
 * Generation 1 acceptance tests: a real directory server daemon and real peer
 * daemons (`sedai daemon --mode directory`), driven through the CLI on
 * 127.0.0.1. Heartbeat and grace period are shortened through the
 * environment (SEDAI_DIRECTORY_HEARTBEAT_MS, SEDAI_DIRECTORY_GRACE_MS).
 */
import assert from 'node:assert/strict'
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, freePorts } from '@sedai/core'
import { DirectorySession, Status } from '@sedai/directory-server'
import { ApiClient } from '../packages/cli/src/api-client.ts'
import { sha256File, writeRandomFile } from './helpers/files.ts'
import { startDaemon } from './helpers/testnet.ts'
import type { TestDaemon } from './helpers/testnet.ts'
import type { TestContext } from 'node:test'

const MiB = 1024 * 1024
const HEARTBEAT_MS = 1000
const GRACE_MS = 3000
const ENV = { SEDAI_DIRECTORY_HEARTBEAT_MS: String(HEARTBEAT_MS), SEDAI_DIRECTORY_GRACE_MS: String(GRACE_MS) }

async function workdir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-dir-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function startServer (t: TestContext, opts: { repo?: string, port?: number, env?: Record<string, string> } = {}): Promise<TestDaemon> {
  const args = ['--mode', 'directory-server']
  if (opts.port !== undefined) args.push('--listen', `/ip4/127.0.0.1/tcp/${opts.port}`)
  return await startDaemon(t, { repo: opts.repo, args, env: { ...ENV, ...opts.env } })
}

async function startPeers (t: TestContext, n: number, server: string, extra: string[] = []): Promise<TestDaemon[]> {
  return await Promise.all(Array.from({ length: n }, async () => await startDaemon(t, { args: ['--mode', 'directory', '--directory', server, ...extra], env: ENV })))
}

/** Polls `check` every 100 ms until it returns a value, or fails after `timeoutMs`. */
async function until<T> (what: string, timeoutMs: number, check: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const v = await check()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(100)
  }
}

async function serverStats (server: TestDaemon): Promise<any> {
  const r = await server.cli(['stats'])
  assert.equal(r.code, 0, r.stderr)
  return r.json['directory-server']
}

async function search (peer: TestDaemon, query: string): Promise<any[]> {
  const r = await peer.cli(['search', query])
  assert.equal(r.code, 0, `search ${query}: ${r.stderr}`)
  return r.json.results
}

/** The words of a name as the directory indexes Latin text. */
const words = (name: string): string[] => name.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(w => w !== '')

const JAPANESE = [
  'ピアツーピア入門.pdf', '音楽入門ガイド.txt', 'ネットワーク入門.md', '東京の夜景.jpg', '夏の思い出.mp3',
  'ピアノ練習曲集.pdf', '映画のサウンドトラック.flac', '京都旅行記.txt', 'データベース設計.pdf', '分散システム概論.pdf',
  'ファイル共有の歴史.txt', 'ナップスター物語.md', '夜空のムコウ.mp3', '日本語テキスト.txt', '入門ピアツーピア通信.pdf'
]
const LATIN = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel']
const EXTS = ['mp3', 'pdf', 'txt', 'flac', 'jpg']

test('1 server + 5 peers, 200 files: ASCII and Japanese searches, 3 providers, multi-source get, a dead peer expires', async (t) => {
  const dir = await workdir(t)
  const server = await startServer(t)
  // the first three seed the shared file at 8 MiB/s each, so the download needs several of them
  const peers = [
    ...await startPeers(t, 3, server.addrs[0], ['--upload-rate', '8M']),
    ...await startPeers(t, 2, server.addrs[0])
  ]

  // 200 entries: the common file on 3 peers, 15 Japanese names, 182 Latin ones
  const common = join(dir, 'src-common-dataset.bin')
  await writeRandomFile(common, 24 * MiB)
  const names: string[][] = peers.map(() => [])
  for (const i of [0, 1, 2]) names[i].push('common-dataset.bin')
  JAPANESE.forEach((name, i) => names[i % 5].push(name))
  for (let i = 0; names.flat().length < 200; i++) {
    names[i % 5].push(`${LATIN[i % 8]}-${LATIN[(i * 3 + 1) % 8]}-${i}.${EXTS[i % 5]}`)
  }
  assert.equal(names.flat().length, 200)
  for (const [p, peer] of peers.entries()) {
    const folder = join(dir, `peer${p}`)
    await mkdir(folder)
    for (const name of names[p]) {
      if (name === 'common-dataset.bin') await copyFile(common, join(folder, name))
      else await writeFile(join(folder, name), `${name} shared by peer ${p}\n`)
    }
    const r = await peer.cli(['share', folder])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.json.shared.length, names[p].length)
  }

  // every peer registers by itself
  const stats = await until('all 200 entries registered', 30_000, async () => {
    const s = await serverStats(server)
    return s.entries === 200 && s.peersOnline === 5 && s
  })
  assert.equal(stats.filesIndexed, 198, 'the file shared by 3 peers is one file')

  const owner = new Map<string, string>()
  for (const [p, list] of names.entries()) for (const n of list) owner.set(n, peers[p].peerId)

  // ASCII word: exactly the names that contain it as a word
  const bravo = await search(peers[4], 'bravo')
  const expected = names.flat().filter(n => words(n).includes('bravo'))
  assert.ok(expected.length > 20 && expected.length < 100)
  assert.deepEqual(bravo.map(r => r.name).sort(), expected.sort())
  for (const r of bravo) assert.deepEqual(r.providers, [owner.get(r.name)], `providers of ${r.name}`)
  // two words: both must match
  const both = await search(peers[4], 'Bravo  ECHO')
  assert.deepEqual(both.map(r => r.name).sort(), names.flat().filter(n => words(n).includes('bravo') && words(n).includes('echo')).sort())

  // Japanese substrings, two characters and longer, from the start or the middle of a name
  for (const q of ['ツーピア', 'ピアツーピア入門', '入門', '夜', 'の思い']) {
    const hits = await search(peers[3], q)
    assert.deepEqual(hits.map(r => r.name).sort(), names.flat().filter(n => n.includes(q)).sort(), `search ${q}`)
    for (const r of hits) assert.deepEqual(r.providers, [owner.get(r.name)])
  }
  assert.ok((await search(peers[3], '入門')).some(r => r.name === 'ピアツーピア入門.pdf'))
  assert.deepEqual(await search(peers[3], 'zulu'), [])

  // the file on 3 peers: one result, 3 providers, ranked first among its matches
  const [dataset] = await search(peers[4], 'dataset')
  assert.equal(dataset.name, 'common-dataset.bin')
  assert.deepEqual([...dataset.providers].sort(), [peers[0].peerId, peers[1].peerId, peers[2].peerId].sort())

  // get by CID alone: the server names the providers, the bytes come from several of them
  const out = join(dir, 'fetched-dataset.bin')
  const got = await peers[4].cli(['get', dataset.cid, '-o', out])
  assert.equal(got.code, 0, got.stderr)
  assert.equal(await sha256File(out), await sha256File(common))
  assert.ok(got.json.sources.length >= 2, `sources: ${JSON.stringify(got.json.sources)}`)
  for (const s of got.json.sources) assert.ok(dataset.providers.includes(s))
  // and the downloader becomes the 4th provider
  await until('the downloader registered as a provider', 10_000, async () => {
    const [hit] = await search(peers[3], 'dataset')
    return hit?.providers.length === 4
  })

  // a peer that dies: its entries stay for the grace period, then go
  const victim = peers[3]
  const victimFile = names[3].find(n => n.startsWith(LATIN[0])) ?? names[3][0]
  await victim.kill()
  const killedAt = Date.now()
  const first = await search(peers[4], victimFile.replace(/\.[a-z0-9]+$/, '').replaceAll('-', ' '))
  if (Date.now() - killedAt < GRACE_MS - HEARTBEAT_MS) {
    assert.ok(first.some(r => r.name === victimFile), 'within the grace period the entries are still listed')
  }
  // timed from the start of the search that no longer lists it: a CLI search (a Node start) takes up to a second on a busy machine
  let probeStartedAt = 0
  await until('the dead peer leaves the results', GRACE_MS + 5_000, async () => {
    probeStartedAt = Date.now()
    const hits = await search(peers[4], victimFile.replace(/\.[a-z0-9]+$/, '').replaceAll('-', ' '))
    return !hits.some(r => r.name === victimFile)
  })
  const gone = probeStartedAt - killedAt
  t.diagnostic(`dead peer gone from results ${gone} ms after SIGKILL (grace ${GRACE_MS} ms)`)
  assert.ok(gone <= GRACE_MS + 1_500, `took ${gone} ms`)
  const after = await serverStats(server)
  assert.equal(after.peersOnline, 4)
  assert.equal(after.expiredPeers, 1)
  assert.equal(after.entries, 200 + 1 - names[3].length)
})

test('server SIGKILLed: search fails fast, transfers finish; restarted: every peer back within 2 heartbeats, nothing re-shared', async (t) => {
  const dir = await workdir(t)
  const port = (await freePorts(1))[0]
  const repo = await mkdtemp(join(tmpdir(), 'sedai-dir-server-'))
  t.after(async () => { await rm(repo, { recursive: true, force: true }) })
  let server = await startServer(t, { repo, port })
  const serverAddr = `/ip4/127.0.0.1/tcp/${port}/p2p/${server.peerId}`
  // peer 0 seeds slowly, so its transfer is still running when the server dies
  const peers = [
    ...await startPeers(t, 1, serverAddr, ['--upload-rate', '4M']),
    ...await startPeers(t, 4, serverAddr)
  ]
  const big = join(dir, 'slow-transfer.bin')
  await writeRandomFile(big, 16 * MiB)
  assert.equal((await peers[0].cli(['share', big])).code, 0)
  for (const [p, peer] of peers.entries()) {
    const f = join(dir, `restart-peer${p}.txt`)
    await writeFile(f, `peer ${p}`)
    assert.equal((await peer.cli(['share', f])).code, 0)
  }
  await until('6 entries from 5 peers', 20_000, async () => {
    const s = await serverStats(server)
    return s.entries === 6 && s.peersOnline === 5
  })
  const [slow] = await search(peers[1], 'slow transfer')
  assert.equal(slow.name, 'slow-transfer.bin')

  // a transfer through the directory, then the server dies under it
  const out = join(dir, 'slow-copy.bin')
  const transfer = peers[1].cli(['get', slow.cid, '-o', out])
  await until('the transfer to start', 10_000, async () => {
    const s = await peers[1].cli(['stats'])
    return (s.json?.transfer?.bytesFetched ?? 0) > 0
  })
  await server.kill()

  // search fails fast with a clear error while the server is down
  await sleep(300)
  for (const peer of [peers[2], peers[3]]) {
    const started = Date.now()
    const r = await peer.cli(['search', 'restart'])
    const took = Date.now() - started
    t.diagnostic(`search with the server down: exit ${r.code} after ${took} ms (CLI start included): ${r.stderr.trim()}`)
    assert.equal(r.code, 1)
    assert.match(r.stderr, /directory server .* is unreachable/)
    assert.ok(took < 5_000, `took ${took} ms`)
    // the daemon's own part, without the CLI's start-up
    const api = await ApiClient.fromRepo(peer.repo)
    const t0 = Date.now()
    await assert.rejects(api.search({ query: 'restart' }), /directory server .* is unreachable/)
    const apiMs = Date.now() - t0
    t.diagnostic(`the daemon answered the search with the error in ${apiMs} ms`)
    assert.ok(apiMs < 2_000, `took ${apiMs} ms`)
  }
  // not registered: 'offline' between re-registration attempts, 'connecting' during one
  const statsDown = await peers[2].cli(['stats'])
  assert.ok(['offline', 'connecting'].includes(statsDown.json.directory.state), `state ${statsDown.json.directory.state}`)

  // the running transfer does not need the server
  const done = await transfer
  assert.equal(done.code, 0, done.stderr)
  assert.equal(await sha256File(out), await sha256File(big))

  // the server comes back on the same address with its database
  await sleep(1_500)
  server = await startServer(t, { repo, port })
  const restartedAt = Date.now()
  let probeMs = 0
  const back = await until('every peer live again', 10_000, async () => {
    const probeStarted = Date.now()
    const s = await serverStats(server)
    probeMs = Date.now() - probeStarted
    return s.peersOnline === 5 && s
  })
  const tookBack = Date.now() - restartedAt
  t.diagnostic(`all 5 peers live again ${tookBack} ms after the restarted server answered, the last stats request taking ${probeMs} ms of it (heartbeat ${HEARTBEAT_MS} ms)`)
  // the peers were all back by the time the server answered that request: somewhere within it (a CLI start, slow
  // on a loaded machine), so the request's own time is the measurement's resolution
  assert.ok(tookBack - probeMs <= 2 * HEARTBEAT_MS, `took ${tookBack} ms, ${probeMs} ms of them the stats request`)
  // the server kept the index: nobody had to send its list again; the only file
  // sent is the one peer 1 finished downloading while the server was down
  assert.equal(back.fullRegistrations, 0)
  assert.ok(back.filesRegistered <= 1, `${back.filesRegistered} files registered again`)
  assert.ok(back.resumedSessions >= 5)
  assert.equal(back.entries, 7, '6 shared + the copy peer 1 downloaded')
  const hits = await search(peers[4], 'restart')
  assert.deepEqual(hits.map(h => h.providers[0]).sort(), peers.map(p => p.peerId).sort())
  const [again] = await search(peers[4], 'slow transfer')
  assert.deepEqual([...again.providers].sort(), [peers[0].peerId, peers[1].peerId].sort())
})

test('bad peers: another peer id, 10^4 files in one REGISTER, a SEARCH flood: refused or throttled, the server stays responsive', async (t) => {
  const dir = await workdir(t)
  const server = await startServer(t)
  const [good] = await startPeers(t, 1, server.addrs[0])
  const f = join(dir, 'good-peer-file.txt')
  await writeFile(f, 'good')
  assert.equal((await good.cli(['share', f])).code, 0)
  await until('the good peer registered', 10_000, async () => (await serverStats(server)).entries === 1)

  const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
  t.after(async () => { await node.stop() })
  const conn = await node.dial(multiaddr(server.addrs[0]))
  const open = async (): Promise<DirectorySession> => await DirectorySession.open(conn, { maxReplyFrameBytes: 4 * MiB, idleTimeoutMs: 30_000 })
  const session = await open()
  const cid = 'bafyreigcl5inhxt2nwplzdhm3uapnwt3gdnw2buvnzajmnbihofqvsv6te'

  // registering as another peer, or with another peer's address
  const spoof = await session.request({ type: 'REGISTER', peerId: good.peerId, files: [[cid, 'stolen.txt', 1]] }, 5_000)
  assert.equal(spoof.status, Status.ERROR)
  assert.match(spoof.error as string, /refused.*registers only itself/)
  const spoofAddr = await session.request({ type: 'HELLO', addrs: [good.addrs[0]] }, 5_000)
  assert.equal(spoofAddr.status, Status.ERROR)
  assert.match(spoofAddr.error as string, /belongs to another peer/)
  // its own id and address are fine; bad entries are skipped one by one
  const own = await session.request({ type: 'REGISTER', peerId: node.peerId.toString(), files: [[cid, 'mine.txt', 1], ['not-a-cid', 'x.txt', 1], [cid, 'x'.repeat(300), 1]] }, 5_000)
  assert.equal(own.status, Status.OK, JSON.stringify(own))
  assert.equal(own.added, 1)
  assert.equal((own.rejected as unknown[]).length, 2)
  // nothing was registered for the good peer
  const browse = await session.request({ type: 'BROWSE', peerId: good.peerId }, 5_000)
  assert.deepEqual((browse.files as unknown[][]).map(x => x[1]), ['good-peer-file.txt'])
  // garbage gets an error status, the session goes on
  await session.sendRaw(new TextEncoder().encode('{not json'))
  const unknown = await session.request({ type: 'DELETE_EVERYTHING' }, 5_000)
  assert.equal(unknown.status, Status.ERROR)
  const tooMany = await session.request({ type: 'REGISTER', files: Array.from({ length: 1_001 }, (_, i) => [cid, `f${i}`, i]) }, 5_000)
  assert.equal(tooMany.status, Status.ERROR)
  assert.match(tooMany.error as string, /at most 1000/)

  // 10^4 files in one REGISTER: refused from the frame header, the session closed
  const huge = Array.from({ length: 10_000 }, (_, i) => [cid, `file-${i}.bin`, i])
  await assert.rejects(session.request({ type: 'REGISTER', files: huge }, 5_000), /closed the session.*exceeds the limit/)
  assert.equal(session.isOpen, false)

  // a SEARCH flood: a few answered, the rest refused and the stream throttled;
  // the good peer is answered meanwhile
  // through the daemon's API, so what is timed is the server's answer, not a CLI process starting on a busy machine
  const goodApi = await ApiClient.fromRepo(good.repo)
  const apiSearch = async (): Promise<unknown[]> => (await goodApi.search({ query: 'good peer' })).results
  const baselineStart = Date.now()
  assert.equal((await apiSearch()).length, 1)
  const baseline = Date.now() - baselineStart
  const flood = await open()
  const floodStart = Date.now()
  const replies: number[] = []
  const sent = Array.from({ length: 2_000 }, async () => await flood.request({ type: 'SEARCH', q: 'good' }, 60_000).then(r => { replies.push(r.status) }, () => { replies.push(-1) }))
  await sleep(500)
  const started = Date.now()
  const answer = await apiSearch()
  const tookGood = Date.now() - started
  assert.equal(answer.length, 1)
  assert.ok(tookGood < baseline + 1_000, `the good peer waited ${tookGood} ms (${baseline} ms without the flood)`)
  await sleep(1_000)
  flood.abort(new Error('done flooding'))
  const floodMs = Date.now() - floodStart
  await Promise.all(sent)
  const ok = replies.filter(s => s === Status.OK).length
  const limited = replies.filter(s => s === Status.RATE_LIMITED).length
  t.diagnostic(`flood over ${floodMs} ms: ${ok} answered, ${limited} rate-limited, ${replies.length - ok - limited} never read (throttled) of ${replies.length}; good peer answered in ${tookGood} ms (${baseline} ms without the flood)`)
  // the default limit: a burst of 40, then 20 per second
  assert.ok(ok <= 40 + 20 * floodMs / 1000 + 5, `${ok} flood searches answered in ${floodMs} ms`)
  assert.ok(limited >= 1)
  const stats = await serverStats(server)
  assert.ok(stats.rateLimited >= 1)
  assert.ok(stats.refused >= 3)
  // still answering
  assert.equal((await search(good, 'mine')).length, 1)
})
