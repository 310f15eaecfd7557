/**
 * Generation 2 (Gnutella): real `sedai daemon --mode flood` processes on
 * 127.0.0.1 in fixed overlays. The neighbour sets are pinned with
 * --bootstrap edges and SEDAI_FLOOD_MIN_NEIGHBOURS=0 (no topping up from the
 * host cache), so a line stays a line.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { FramedStream, createNode, freePorts } from '@sedai/core'
import { ByeCode, FLOOD_PROTOCOL, MAX_FRAME_BYTES, MessageType, decodeMessage, distances, encodePing, encodeQuery, line, neighboursOf, randomGraph } from '@sedai/flooding-peer'
import { ApiClient } from '../packages/cli/src/api-client.ts'
import { startDaemon } from './helpers/testnet.ts'
import { sha256File, writeRandomFile } from './helpers/files.ts'
import type { Edge } from '@sedai/flooding-peer'
import type { TestDaemon } from './helpers/testnet.ts'
import type { TestContext } from 'node:test'

const MiB = 1024 * 1024
const START_BATCH = 4
const FIXED = { SEDAI_FLOOD_MIN_NEIGHBOURS: '0', SEDAI_FLOOD_MAX_NEIGHBOURS: '8', SEDAI_LOG_LEVEL: 'warn' }

async function workdir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-flood-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Starts one flood daemon per peer; the higher end of each edge bootstraps to the lower. */
async function overlay (t: TestContext, n: number, edges: Edge[], extra: (i: number) => string[] = () => []): Promise<TestDaemon[]> {
  const ports = await freePorts(n)
  const addr = (i: number): string => `/ip4/127.0.0.1/tcp/${ports[i]}`
  const nodes: TestDaemon[] = []
  // a few at a time: twenty node processes starting at once starve a small CI machine
  for (let i = 0; i < n; i += START_BATCH) {
    nodes.push(...await Promise.all(Array.from({ length: Math.min(START_BATCH, n - i) }, async (_, k) => {
      const j = i + k
      const boot = edges.filter(([, b]) => b === j).flatMap(([a]) => ['--bootstrap', addr(a)])
      return await startDaemon(t, { args: ['--mode', 'flood', '--listen', addr(j), ...boot, ...extra(j)], env: FIXED })
    })))
  }
  const degree = neighboursOf(n, edges).map(a => a.length)
  const started = Date.now()
  await until(async () => {
    const counts = await Promise.all(nodes.map(async d => (await api(d).stats() as any).flood?.neighbourCount ?? 0))
    return counts.every((c, i) => c === degree[i])
  }, 60_000, 'the overlay did not form')
  t.diagnostic(`${n} daemons up; the overlay formed ${Date.now() - started} ms later`)
  return nodes
}

const clients = new Map<string, ApiClient>()
function api (d: TestDaemon): ApiClient {
  let c = clients.get(d.repo)
  if (c === undefined) {
    // the api file exists once startDaemon has returned
    c = new ApiClient(JSON.parse(readFileSync(join(d.repo, 'api'), 'utf8')), d.repo)
    clients.set(d.repo, c)
  }
  return c
}

async function until (check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${ms} ms`)
    await sleep(100)
  }
}

async function search (d: TestDaemon, query: string, ttl: number, timeoutMs = 1500): Promise<Array<{ cid: string, name: string, providers: string[] }>> {
  const r = await d.cli(['search', query, '--ttl', String(ttl), '--timeout-ms', String(timeoutMs)])
  assert.equal(r.code, 0, r.stderr)
  return r.json.results
}

/** Per-link QUERY sends for query `id`, from every peer's stats. */
async function querySends (nodes: TestDaemon[], id: string): Promise<Array<{ from: string, to: string, n: number }>> {
  const sends: Array<{ from: string, to: string, n: number }> = []
  for (const d of nodes) {
    const q = ((await api(d).stats() as any).flood.recentQueries as any[]).find(r => r.id === id)
    if (q === undefined) continue
    for (const [to, n] of Object.entries(q.sentTo as Record<string, number>)) sends.push({ from: d.peerId, to, n })
  }
  return sends
}

async function lastOriginated (d: TestDaemon): Promise<string> {
  const mine = ((await api(d).stats() as any).flood.recentQueries as any[]).filter(r => r.origin)
  return mine[mine.length - 1].id
}

test('20 peers in a random graph (degree 3-5, with cycles): TTL reach, TTL 1 = neighbours, each id crosses each link at most once per direction', async (t) => {
  const dir = await workdir(t)
  const n = 20
  const seed = Number(process.env.SEDAI_FLOOD_SEED ?? 7)
  const edges = randomGraph(n, 3, 5, seed)
  const adj = neighboursOf(n, edges)
  t.diagnostic(`seed ${seed}: ${edges.length} links, degrees ${adj.map(a => a.length).join(' ')}`)
  const nodes = await overlay(t, n, edges)
  const idx = new Map(nodes.map((d, i) => [d.peerId, i]))
  await Promise.all(nodes.map(async (d, i) => {
    const file = join(dir, `graph-node-${i}.txt`)
    await writeFile(file, `held by peer ${i}\n`)
    await api(d).share(file)
  }))

  // TTL 1: exactly the direct neighbours' files
  const s = 0
  const one = await search(nodes[s], 'graph-node', 1)
  const reached1 = one.flatMap(r => r.providers.map(p => idx.get(p) as number)).sort((a, b) => a - b)
  assert.deepEqual(reached1, [...adj[s]].sort((a, b) => a - b), 'TTL 1 reaches the direct neighbours only')

  // from several peers: a file held by one other peer is found when TTL >= the distance, not below
  for (const from of [0, 7, 13]) {
    const dist = distances(n, edges, from)
    const far = dist.indexOf(Math.max(...dist))
    // exactly the distance: a copy that reaches a peer first over a longer path has less TTL left, and the
    // shorter path's copy, arriving later with more, is forwarded again (gtk-gnutella's rule, docs/FLOOD.md)
    const found = await search(nodes[from], `graph-node-${far}.txt`, dist[far], 3000)
    if (found.length === 0) {
      const id = await lastOriginated(nodes[from])
      for (const [i, d] of nodes.entries()) {
        const q = ((await api(d).stats() as any).flood.recentQueries as any[]).find(r => r.id === id)
        t.diagnostic(`peer ${i} (distance ${dist[i]}): ${q === undefined ? 'never got it' : `first copy ttl ${q.ttl} hops ${q.hops} from peer ${idx.get(q.from)}, highest ttl ${q.maxTtl}, ${q.received} copies, hits ${q.hits}`}`)
      }
    }
    assert.deepEqual(found.map(r => r.name), [`graph-node-${far}.txt`], `peer ${from} finds peer ${far} at TTL ${dist[far]}`)
    const short = await search(nodes[from], `graph-node-${far}.txt`, dist[far] - 1)
    assert.deepEqual(short, [], `TTL ${dist[far] - 1} is short of peer ${far}`)
    t.diagnostic(`peer ${from} -> peer ${far}: distance ${dist[far]}, found at TTL ${dist[far]}, not at TTL ${dist[far] - 1}`)
  }

  // one query over the whole overlay: every id crosses every directed link at most once
  // TTL = eccentricity: exactly enough to reach the farthest peer, whatever order the copies arrive in
  const ecc = Math.max(...distances(n, edges, s))
  const all = await search(nodes[s], 'graph-node', ecc, 3000)
  assert.equal(all.length, n - 1, 'the whole overlay answers')
  const id = await lastOriginated(nodes[s])
  const sends = await querySends(nodes, id)
  const linkSet = new Set(edges.map(([a, b]) => `${a}-${b}`))
  const perLink = new Map<string, number>()
  for (const { from, to, n: count } of sends) {
    assert.equal(count, 1, `QUERY ${id} sent ${count} times from ${from} to ${to}`)
    const a = idx.get(from) as number
    const b = idx.get(to) as number
    const key = `${Math.min(a, b)}-${Math.max(a, b)}`
    assert.ok(linkSet.has(key), `a QUERY crossed ${key}, which is not a link`)
    perLink.set(key, (perLink.get(key) ?? 0) + 1)
  }
  const total = sends.length
  const both = [...perLink.values()].filter(c => c === 2).length
  const atPeers = await Promise.all(nodes.map(async d => ((await api(d).stats() as any).flood.recentQueries as any[]).find(r => r.id === id)))
  const raised = atPeers.filter(q => q !== undefined && q.maxTtl > q.ttl).length
  const resent = atPeers.reduce((a, q) => a + Object.values((q?.resentTo ?? {}) as Record<string, number>).reduce((x, y) => x + y, 0), 0)
  t.diagnostic(`TTL ${ecc} query: ${total} first QUERY sends over ${edges.length} links (${perLink.size} links used, ${both} crossed once each way by copies in flight at the same time), ${resent} re-sends with a higher TTL from ${raised} peers; ${n - 1} peers reached`)
  // each directed link at most once; a query crosses a link both ways only when the two copies are in flight at
  // once, or when a peer whose first copy came over a longer path forwards the later, higher-TTL one back (one per such peer)
  assert.ok(total <= 2 * edges.length - (n - 1) + raised, `${total} messages > 2 x links - tree edges + ${raised}`)
  const stats = await Promise.all(nodes.map(async d => await api(d).stats() as any))
  const dup = stats.reduce((a, st) => a + (st.flood.droppedDuplicate ?? 0), 0)
  const higher = stats.reduce((a, st) => a + (st.flood.higherTtlCopies ?? 0), 0)
  const ttl0 = stats.reduce((a, st) => a + (st.flood.droppedTtl ?? 0), 0)
  t.diagnostic(`overall: ${dup} duplicates dropped, ${higher} copies forwarded again with a higher TTL, ${ttl0} queries not forwarded at TTL 0`)
  // every copy after a peer's first is a duplicate or a higher-TTL copy
  assert.equal(dup + higher, stats.reduce((a, st) => a + (st.flood.queriesReceived ?? 0), 0) - stats.reduce((a, st) => a + st.flood.recentQueries.filter((q: any) => !q.origin).length, 0))
})

test('a line of 8 peers: TTL 3 does not reach the far end, TTL 7 does (coverage vs TTL)', async (t) => {
  const dir = await workdir(t)
  const n = 8
  const nodes = await overlay(t, n, line(n))
  await Promise.all(nodes.map(async (d, i) => {
    const file = join(dir, i === n - 1 ? 'line-node-7-far-end.txt' : `line-node-${i}.txt`)
    await writeFile(file, `peer ${i}\n`)
    await api(d).share(file)
  }))
  const rows = ['TTL  peers reached  far end  QUERY messages']
  for (let ttl = 1; ttl <= 7; ttl++) {
    const results = await search(nodes[0], 'line-node', ttl, 1000)
    const id = await lastOriginated(nodes[0])
    const messages = (await querySends(nodes, id)).reduce((a, s) => a + s.n, 0)
    const far = results.some(r => r.name.includes('far-end'))
    rows.push(`${String(ttl).padStart(3)}  ${String(results.length).padStart(13)}  ${(far ? 'yes' : 'no').padStart(7)}  ${String(messages).padStart(14)}`)
    assert.equal(results.length, ttl, `TTL ${ttl} reaches ${ttl} peers down the line`)
    assert.equal(messages, ttl, `TTL ${ttl}: one QUERY per hop`)
    if (ttl === 3) assert.equal(far, false, 'TTL 3 does not reach the far end')
    if (ttl === 7) assert.equal(far, true, 'TTL 7 reaches the far end')
  }
  for (const row of rows) t.diagnostic(row)
})

test('the responder is killed mid-download while a second hit exists: the download completes from the other, bytes identical', async (t) => {
  const dir = await workdir(t)
  const s = await startDaemon(t, { args: ['--mode', 'flood'], env: FIXED })
  const r1 = await startDaemon(t, { args: ['--mode', 'flood', '--bootstrap', s.addrs[0], '--upload-rate', '1M'], env: FIXED })
  const r2 = await startDaemon(t, { args: ['--mode', 'flood', '--bootstrap', s.addrs[0], '--upload-rate', '1M'], env: FIXED })
  const src = join(dir, 'src.bin')
  await writeRandomFile(src, 6 * MiB + 333)
  for (const r of [r1, r2]) {
    const own = join(dir, r.peerId)
    await mkdir(own)
    await copyFile(src, join(own, 'twice-shared.bin'))
    assert.equal((await r.cli(['share', join(own, 'twice-shared.bin')])).code, 0)
  }
  await until(async () => (await api(s).stats() as any).flood?.neighbourCount === 2, 20_000, 'S did not link to both responders')
  const hits = await search(s, 'twice-shared', 2, 1000)
  assert.equal(hits.length, 1)
  assert.deepEqual([...hits[0].providers].sort(), [r1.peerId, r2.peerId].sort(), 'two hits for the same CID')

  const out = join(dir, 'out.bin')
  const get = s.cli(['get', hits[0].cid, '-o', out]) // no --from: the responders of the hits
  await until(async () => ((await api(s).stats() as any).transfer?.bytesFetched ?? 0) >= 1 * MiB, 30_000, 'the download did not start')
  const atKill = ((await api(s).stats() as any).transfer?.bytesFetched ?? 0) as number
  await r1.kill()
  const got = await get
  assert.equal(got.code, 0, got.stderr)
  assert.equal(await sha256File(out), await sha256File(src))
  assert.ok(got.json.sources.includes(r2.peerId), 'the survivor delivered')
  assert.ok(atKill < 6 * MiB, 'killed mid-download')
  t.diagnostic(`r1 killed after ${(atKill / MiB).toFixed(1)} of 6 MiB; sources that delivered: ${got.json.sources.map((p: string) => p === r1.peerId ? 'r1 (killed)' : 'r2').join(', ')}`)
})

test('a hostile neighbour sends 1,000 queries/s with repeated ids and TTL 255: TTL clamped, duplicates dropped, throttled, dropped; searches still succeed', async (t) => {
  const dir = await workdir(t)
  const v = await startDaemon(t, { args: ['--mode', 'flood'], env: FIXED })
  const a = await startDaemon(t, { args: ['--mode', 'flood', '--bootstrap', v.addrs[0]], env: FIXED })
  const b = await startDaemon(t, { args: ['--mode', 'flood', '--bootstrap', v.addrs[0]], env: FIXED })
  await writeFile(join(dir, 'needle-in-the-haystack.txt'), 'found me\n')
  await api(b).share(join(dir, 'needle-in-the-haystack.txt'))
  await until(async () => (await api(v).stats() as any).flood?.neighbourCount === 2, 20_000, 'V did not link to A and B')

  const hostile = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  t.after(async () => { await hostile.stop() })
  const conn = await hostile.dial(multiaddr(v.addrs[0]))
  const framed = new FramedStream(await conn.newStream(FLOOD_PROTOCOL), { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 30_000 })
  let bye: number | undefined
  const reader = (async () => {
    try {
      for (let f = await framed.read(); f !== undefined; f = await framed.read()) {
        const m = decodeMessage(f)
        if (m.type === MessageType.BYE) bye = m.code
      }
    } catch {}
  })()
  await framed.write(encodePing(1))
  const ids = Array.from({ length: 20 }, (_, i) => new Uint8Array(16).fill(i + 1))
  let sent = 0
  const started = Date.now()
  try {
    // 1,000 queries/s, for up to 3 s or until V hangs up
    while (Date.now() - started < 3000 && bye === undefined) {
      const due = Date.now() - started // one query per millisecond
      while (sent < due && bye === undefined) {
        await framed.write(encodeQuery({ id: ids[sent % ids.length], ttl: 255, hops: 0, text: 'spam spam spam' }))
        sent++
      }
      await sleep(5)
    }
  } catch {}
  const rate = Math.round(sent / ((Date.now() - started) / 1000))
  await until(async () => bye !== undefined, 5000, 'V did not say BYE to the flooder')
  await reader

  const st = (await api(v).stats() as any).flood
  t.diagnostic(`hostile sent ${sent} queries (${rate}/s); V: throttled ${st.droppedThrottled}, duplicates ${st.droppedDuplicate}, TTL clamped ${st.ttlClamped}, dropped for flooding ${st.neighboursDroppedForFlooding}, BYE code ${bye}`)
  assert.equal(bye, ByeCode.FLOODING)
  assert.ok(st.droppedThrottled > 0, 'throttled')
  assert.ok(st.droppedDuplicate > 0, 'repeated ids dropped')
  assert.ok(st.ttlClamped > 0, 'TTL 255 clamped')
  assert.equal(st.neighboursDroppedForFlooding, 1)
  assert.ok(st.banned.includes(hostile.peerId.toString()))
  // what V forwarded of the spam went out with TTL <= 10 - 1
  const fwd = ((await api(a).stats() as any).flood.recentQueries as any[]).filter(q => q.from === v.peerId)
  assert.ok(fwd.length > 0 && fwd.every(q => q.ttl + q.hops <= 10), JSON.stringify(fwd.slice(0, 3)))
  // a banned peer cannot link again
  const again = new FramedStream(await (await hostile.dial(multiaddr(v.addrs[0]))).newStream(FLOOD_PROTOCOL), { maxFrameBytes: MAX_FRAME_BYTES, idleTimeoutMs: 5000 })
  const first = await again.read()
  assert.ok(first !== undefined)
  assert.deepEqual(decodeMessage(first), { type: MessageType.BYE, code: ByeCode.BANNED, reason: 'banned for flooding' })

  const found = await search(a, 'needle', 3)
  assert.deepEqual(found.map(r => r.name), ['needle-in-the-haystack.txt'])
})

test('get --in-band: the file comes along the overlay path A-B-C (B relays every byte), verified end to end', async (t) => {
  const dir = await workdir(t)
  const nodes = await overlay(t, 3, line(3))
  const [a, b, c] = nodes
  const src = join(dir, 'relayed-far.bin')
  await writeRandomFile(src, 2 * MiB + 4321)
  assert.equal((await c.cli(['share', src])).code, 0)
  const hits = await search(a, 'relayed-far', 2, 1000)
  assert.equal(hits.length, 1)
  assert.deepEqual(hits[0].providers, [c.peerId])

  const out = join(dir, 'got.bin')
  const got = await a.cli(['get', hits[0].cid, '-o', out, '--in-band'])
  assert.equal(got.code, 0, got.stderr)
  assert.equal(await sha256File(out), await sha256File(src))
  assert.deepEqual(got.json.sources, [c.peerId])
  const peers = (await a.cli(['peers'])).json.peers.map((p: any) => p.peerId)
  assert.ok(!peers.includes(c.peerId), 'A never connected to C: the bytes came through B')
  const relay = (await api(b).stats() as any).flood
  assert.ok(relay.relayBytesForwarded >= 2 * MiB + 4321, JSON.stringify(relay))
  t.diagnostic(`B relayed ${relay.relayRepliesForwarded} ranges, ${relay.relayBytesForwarded} bytes (file ${2 * MiB + 4321} bytes + manifest)`)
  // --in-band and --from exclude each other
  const both = await a.cli(['get', hits[0].cid, '--in-band', '--from', c.addrs[0]])
  assert.equal(both.code, 2)
})
