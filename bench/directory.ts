/**
 * Directory (Gen 1) benchmark: a real `sedai daemon --mode directory-server`
 * process, an index of BENCH_DIR_FILES generated file names (default
 * 1,000,000) registered over libp2p by BENCH_DIR_PEERS peers, then ranked
 * searches from BENCH_DIR_SEARCHERS concurrent peers (each a libp2p node with
 * its own Noise session, BENCH_DIR_DEPTH searches in flight) for
 * BENCH_DIR_SECONDS seconds. Prints REGISTER throughput, searches per second
 * and client-side p50/p99 latency, with the search cache off (every search
 * reads the database) and on, and, in-process on the same database, the
 * rank-ordered FTS5 read against `ORDER BY rank`.
 *
 * Names: 3 words each, every word drawn half the time from 12 common words
 * (Latin and Japanese; each then appears in ~10% of the names, ~100k of 10^6)
 * and otherwise from 300 rare ones, plus a unique number and an extension.
 * 10% of the files are also shared by 1 to 4 more peers (ranked higher).
 *
 *   node bench/directory.ts            (the npm run bench wiring runs this too)
 *   BENCH_DIR_FILES=200000 BENCH_DIR_SECONDS=5 node bench/directory.ts
 */
import { fork } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { DatabaseSync } from 'node:sqlite'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { createNode, seededRandom } from '@sedai/core'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { DIRECTORY_DB, DirectorySession, Status, matchExpression } from '@sedai/directory-server'
import { startDaemon } from '../test/helpers/testnet.ts'
import type { FileTuple } from '@sedai/directory-server'
import type { SedaiLibp2p } from '@sedai/core'
import type { TestDaemon } from '../test/helpers/testnet.ts'

const FILES = Number(process.env.BENCH_DIR_FILES ?? 1_000_000)
const PEERS = Number(process.env.BENCH_DIR_PEERS ?? 50)
const SEARCHERS = Number(process.env.BENCH_DIR_SEARCHERS ?? 16)
const DEPTH = Number(process.env.BENCH_DIR_DEPTH ?? 2)
const SECONDS = Number(process.env.BENCH_DIR_SECONDS ?? 15)
/**
 * Processes the searcher peers run in (each several libp2p nodes); 0 = in this
 * process, where they compete with the benchmark's own work for the event loop.
 */
const SEARCH_PROCS = Number(process.env.BENCH_DIR_SEARCH_PROCS ?? 2)
const REGISTER_BATCH = 1_000
/** peers registering at once, one REGISTER in flight each: the server works through them one at a time anyway */
const REGISTERING = 8

const COMMON = ['love', 'music', 'live', 'remix', 'night', 'dream', 'city', 'world', '音楽', '入門', 'ライブ', '東京']
const RARE = Array.from({ length: 300 }, (_, i) => i % 3 === 0 ? `${'アイウエオカキクケコサシスセソ'[i % 15]}${'タチツテトナニヌネノ'[i % 10]}${i}` : `w${i.toString(36)}x`)
const EXTS = ['mp3', 'flac', 'pdf', 'mkv', 'zip', 'txt', 'jpg']

/** Deterministic, so every run indexes the same names. */
const rng = seededRandom

function generate (): { lists: FileTuple[][], entries: number } {
  const rand = rng(42)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  const lists: FileTuple[][] = Array.from({ length: PEERS }, () => [])
  const seed = new Uint8Array(8)
  const view = new DataView(seed.buffer)
  let entries = 0
  for (let i = 0; i < FILES; i++) {
    const w = [0, 1, 2].map(() => rand() < 0.5 ? pick(COMMON) : pick(RARE))
    const name = `${w[0]} ${w[1]}_${w[2]} ${i}.${pick(EXTS)}`
    view.setFloat64(0, i)
    // a well-formed sedai CID (CIDv1, dag-cbor, sha2-256), as the server checks
    const cid = CID.createV1(0x71, Digest.create(0x12, createHash('sha256').update(seed).digest())).toString()
    const file: FileTuple = [cid, name, Math.floor(rand() * 1e9)]
    const owner = i % PEERS
    lists[owner].push(file)
    entries++
    if (rand() < 0.1) {
      const extra = 1 + Math.floor(rand() * 4)
      for (let k = 1; k <= extra; k++) { lists[(owner + k * 7) % PEERS].push(file); entries++ }
    }
  }
  return { lists, entries }
}

async function peerNode (): Promise<SedaiLibp2p> {
  return await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [] })
}

async function session (node: SedaiLibp2p, server: string): Promise<DirectorySession> {
  const conn = await node.dial(multiaddr(server))
  return await DirectorySession.open(conn, { maxReplyFrameBytes: 4 * 1024 * 1024, idleTimeoutMs: 120_000 })
}

let retries = 0

async function register (server: string, nodes: SedaiLibp2p[], lists: FileTuple[][]): Promise<number> {
  // log every peer in first (a Noise handshake each), then time the registrations
  const sessions: DirectorySession[] = []
  const login = async (p: number): Promise<DirectorySession> => {
    const s = await session(nodes[p], server)
    const hello = await s.request({ type: 'HELLO', addrs: [`/ip4/10.0.${p >> 8}.${p & 255}/tcp/4001`] }, 60_000)
    if (hello.status !== Status.OK) throw new Error(`HELLO: ${hello.error}`)
    return s
  }
  for (let p = 0; p < nodes.length; p++) sessions.push(await login(p))
  // a REGISTER is idempotent: after a lost session (libp2p's connection monitor
  // drops a connection whose ping is late on a starved machine) log in again and resend
  const send = async (p: number, body: Record<string, unknown> & { type: string }): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        if (!sessions[p].isOpen) sessions[p] = await login(p)
        const reply = await sessions[p].request(body, 120_000)
        if (reply.status !== Status.OK || reply.rejected !== undefined) throw new Error(`REGISTER: ${reply.error ?? JSON.stringify(reply.rejected)}`)
        return
      } catch (err: any) {
        if (attempt >= 5 || err.message.startsWith('REGISTER')) throw err
        retries++
      }
    }
  }
  const started = performance.now()
  let nextPeer = 0
  await Promise.all(Array.from({ length: REGISTERING }, async () => {
    while (nextPeer < lists.length) {
      const p = nextPeer++
      const files = lists[p]
      for (let at = 0; at < files.length; at += REGISTER_BATCH) {
        await send(p, { type: 'REGISTER', files: files.slice(at, at + REGISTER_BATCH), reset: at === 0 ? true : undefined })
      }
      sessions[p].close()
    }
  }))
  return performance.now() - started
}

interface SearchRun { perSecond: number, p50: number, p99: number, count: number, results: number, errors: number, elapsedMs: number, clientCpuMs: number }
interface LoopResult { latencies: number[], results: number, errors: number, elapsedMs: number, cpuMs: number }

/** Closed loop on open sessions: every session keeps DEPTH searches in flight for SECONDS; latency measured at the client. */
async function searchLoop (sessions: DirectorySession[], queries: string[], seed: number): Promise<LoopResult> {
  const latencies: number[] = []
  let results = 0
  let errors = 0
  const rand = rng(seed)
  const cpu = process.cpuUsage()
  const started = performance.now()
  const end = started + SECONDS * 1000
  await Promise.all(sessions.flatMap(s => Array.from({ length: DEPTH }, async () => {
    while (performance.now() < end) {
      const q = queries[Math.floor(rand() * queries.length)]
      const t0 = performance.now()
      try {
        const reply = await s.request({ type: 'SEARCH', q }, 30_000)
        latencies.push(performance.now() - t0)
        if (reply.status === Status.OK) results += (reply.hits as unknown[]).length
        else errors++
      } catch {
        // a lost session: counted, not retried (its searcher stops)
        errors++
        return
      }
    }
  })))
  const used = process.cpuUsage(cpu)
  return { latencies, results, errors, elapsedMs: performance.now() - started, cpuMs: (used.user + used.system) / 1000 }
}

async function openSessions (server: string, nodes: SedaiLibp2p[], queries: string[]): Promise<DirectorySession[]> {
  const sessions: DirectorySession[] = []
  for (const n of nodes) sessions.push(await session(n, server))
  // warm up: each query once
  for (const q of queries) await sessions[0].request({ type: 'SEARCH', q }, 30_000)
  return sessions
}

function summarize (runs: LoopResult[]): SearchRun {
  const latencies = runs.flatMap(r => r.latencies).sort((a, b) => a - b)
  const elapsed = Math.max(...runs.map(r => r.elapsedMs))
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  const sum = (f: (r: LoopResult) => number): number => runs.reduce((n, r) => n + f(r), 0)
  return { perSecond: latencies.length / (elapsed / 1000), p50: at(0.5), p99: at(0.99), count: latencies.length, results: sum(r => r.results), errors: sum(r => r.errors), elapsedMs: elapsed, clientCpuMs: sum(r => r.cpuMs) }
}

/** SEARCHERS peers, spread over SEARCH_PROCS child processes (or in this one), searching the server at once. */
async function searchLoad (server: string, nodes: SedaiLibp2p[], queries: string[]): Promise<SearchRun> {
  if (SEARCH_PROCS <= 0) {
    const sessions = await openSessions(server, nodes, queries)
    const run = await searchLoop(sessions, queries, 7)
    for (const s of sessions) s.close()
    return summarize([run])
  }
  const children = Array.from({ length: SEARCH_PROCS }, (_, i) => {
    const peers = Math.floor(SEARCHERS / SEARCH_PROCS) + (i < SEARCHERS % SEARCH_PROCS ? 1 : 0)
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, BENCH_DIR_CHILD: JSON.stringify({ server, peers, queries, seed: 7 + i }) } })
    const done = once(child, 'message').then(async ([ready]) => {
      if ((ready as any).ready !== true) throw new Error(`searcher process: ${JSON.stringify(ready)}`)
      return child
    })
    return { child, done }
  })
  try {
    const ready = await Promise.all(children.map(async c => await c.done))
    // start together, once every child has its sessions open and warm
    const results = ready.map(async c => (await once(c, 'message'))[0] as LoopResult)
    for (const c of ready) c.send('go')
    const runs = await Promise.all(results)
    for (const r of runs) if (!Array.isArray(r.latencies)) throw new Error(`searcher process: ${JSON.stringify(r)}`)
    return summarize(runs)
  } finally {
    for (const { child } of children) if (child.exitCode === null) child.kill()
  }
}

/** A searcher process (forked by searchLoad): its own libp2p nodes, sessions and closed loop. */
async function searcherChild (spec: { server: string, peers: number, queries: string[], seed: number }): Promise<void> {
  const nodes: SedaiLibp2p[] = []
  try {
    for (let i = 0; i < spec.peers; i++) nodes.push(await peerNode())
    const sessions = await openSessions(spec.server, nodes, spec.queries)
    const go = new Promise(resolve => process.once('message', resolve))
    process.send?.({ ready: true })
    await go
    const run = await searchLoop(sessions, spec.queries, spec.seed)
    for (const s of sessions) s.close()
    await new Promise(resolve => process.send?.(run, resolve))
  } catch (err: any) {
    process.send?.({ error: err.message })
  } finally {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    process.disconnect()
  }
}

/** In-process, on the server's database: our rank-ordered read against FTS5's BM25 `ORDER BY rank`. */
function inProcess (dbPath: string, query: string): { rowidOrder: number, bm25: number, matches: number } {
  const db = new DatabaseSync(dbPath, { readOnly: true })
  try {
    const match = matchExpression(query, { maxQueryChars: 256, maxKeywords: 8 })
    // the server's query (files joined, providers included)
    const fast = db.prepare('SELECT f.cid, f.name, f.size, f.providers, f.peers FROM names JOIN files AS f ON f.id = (names.rowid % 4294967296) WHERE names MATCH ? LIMIT 100')
    const bm25 = db.prepare('SELECT rowid % 4294967296 FROM names WHERE names MATCH ? ORDER BY rank LIMIT 100')
    const matches = (db.prepare('SELECT count(*) AS n FROM names WHERE names MATCH ?').get(match) as any).n as number
    const rate = (stmt: any, ms: number): number => {
      let n = 0
      const t0 = performance.now()
      while (performance.now() - t0 < ms) { stmt.all(match); n++ }
      return n / ((performance.now() - t0) / 1000)
    }
    return { rowidOrder: rate(fast, 1_000), bm25: rate(bm25, 2_000), matches }
  } finally {
    db.close()
  }
}

/** CPU time (user + system, ms) a process has used so far. */
async function cpuMs (pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')
  // fields 14 and 15 (utime, stime), in clock ticks of 10 ms
  return (Number(stat[11]) + Number(stat[12])) * 10
}

/** Where the CPU went during a search run, in cores busy. */
function cpuShare (run: SearchRun, serverCpuMs: number): string {
  return `server ${(serverCpuMs / run.elapsedMs).toFixed(2)} cores, searchers ${(run.clientCpuMs / run.elapsedMs).toFixed(2)} cores`
}

async function rssMiB (pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises')
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
}

async function main (): Promise<void> {
  const rows: Array<[string, string]> = []
  const t0 = performance.now()
  const { lists, entries } = generate()
  rows.push(['index', `${FILES.toLocaleString('en')} files, ${entries.toLocaleString('en')} entries from ${PEERS} peers (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`])

  const env = {
    SEDAI_LOG_LEVEL: process.env.BENCH_DIR_DEBUG !== undefined ? 'debug' : 'warn',
    SEDAI_DIRECTORY_QUERY_RATE: '0',
    SEDAI_DIRECTORY_CONTROL_RATE: '0',
    SEDAI_DIRECTORY_MAX_FILES_PER_PEER: String(FILES),
    // long enough that no bench peer expires while idle between phases
    SEDAI_DIRECTORY_HEARTBEAT_MS: '60000',
    SEDAI_DIRECTORY_GRACE_MS: '600000',
    // BENCH_DIR_PROF=<dir>: CPU profiles of the server daemons (node --cpu-prof)
    ...(process.env.BENCH_DIR_PROF !== undefined ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_DIR_PROF}` } : {})
  }
  const daemons: TestDaemon[] = []
  const nodes: SedaiLibp2p[] = []
  try {
    const server = await startDaemon(undefined, { repo: process.env.BENCH_DIR_REPO, args: ['--mode', 'directory-server'], env: { ...env, SEDAI_DIRECTORY_CACHE: '0' } })
    daemons.push(server)
    for (let i = 0; i < (SEARCH_PROCS > 0 ? PEERS : Math.max(PEERS, SEARCHERS)); i++) nodes.push(await peerNode())

    // BENCH_DIR_REPO naming a repo this benchmark already filled (same BENCH_DIR_FILES
    // and BENCH_DIR_PEERS): the index is searched as it is, not registered again
    const before = (await server.cli(['stats'])).json['directory-server']
    if (before.filesIndexed === FILES && before.entries === entries) {
      rows.push(['REGISTER throughput', `not measured: the index in ${server.repo} was reused`])
    } else {
      if (before.filesIndexed !== 0) throw new Error(`${server.repo} holds another index (${before.filesIndexed} files, ${before.entries} entries): use an empty repo`)
      const regMs = await register(server.addrs[0], nodes.slice(0, PEERS), lists)
      rows.push(['REGISTER throughput', `${Math.round(entries / (regMs / 1000)).toLocaleString('en')} entries/s (${(regMs / 1000).toFixed(1)} s, batches of ${REGISTER_BATCH}, ${PEERS} peers, ${REGISTERING} at a time${retries > 0 ? `, ${retries} resent after a lost session` : ''})`])
    }
    const stats = (await server.cli(['stats'])).json['directory-server']
    if (stats.filesIndexed !== FILES || stats.entries !== entries) throw new Error(`index has ${stats.filesIndexed} files / ${stats.entries} entries`)
    // searches are measured on the settled index: the server merges its FTS5
    // segments in the background once the writes stop (mergeQuietMs)
    const settling = performance.now()
    let segments = stats.indexSegments as number
    while (segments > 1 && performance.now() - settling < 300_000) {
      await sleep(500)
      segments = (await server.cli(['stats'])).json['directory-server'].indexSegments
    }
    rows.push(['index merged', `${stats.indexSegments} FTS5 segments after the load, ${segments} after ${((performance.now() - settling) / 1000).toFixed(1)} s of background merging`])

    // a mix: one common word (~100k matches), two (AND), Japanese bigram words and
    // substrings, a rare word, and a miss
    const queries = ['love', 'music', '音楽', 'ライブ', 'love music', 'night 東京', '楽入', 'dream city', RARE[4], RARE[3], 'nomatchatall']
    const searchers = nodes.slice(0, SEARCHERS)
    const where = SEARCH_PROCS > 0 ? `in ${SEARCH_PROCS} processes` : 'in-process'
    const cpu0 = await cpuMs(server.process.pid as number)
    const cold = await searchLoad(server.addrs[0], searchers, queries)
    const coldCpu = await cpuMs(server.process.pid as number) - cpu0
    rows.push([`search, cache off (${SEARCHERS} peers ${where} x ${DEPTH} in flight, ${SECONDS} s)`, `${Math.round(cold.perSecond).toLocaleString('en')} searches/s, p50 ${cold.p50.toFixed(2)} ms, p99 ${cold.p99.toFixed(2)} ms (${cold.count.toLocaleString('en')} searches, ${(cold.results / cold.count).toFixed(0)} hits each on average, ${cold.errors} errors)`])
    const serverRss = await rssMiB(server.process.pid as number)
    const coldStats = (await server.cli(['stats'])).json['directory-server']
    const latency = coldStats.searchLatencyMs
    rows.push(['  server-side latency', `p50 ${latency.p50} ms, p99 ${latency.p99} ms (decode to reply, last ${latency.samples} searches); ${(coldStats.replies / coldStats.replyWrites).toFixed(2)} replies per write; ${cpuShare(cold, coldCpu)}`])
    await server.stop()

    // the same index, with the search cache on (the default)
    const cached = await startDaemon(undefined, { repo: server.repo, args: ['--mode', 'directory-server'], env })
    daemons.push(cached)
    const cpu1 = await cpuMs(cached.process.pid as number)
    const warm = await searchLoad(cached.addrs[0], searchers, queries)
    const warmCpu = await cpuMs(cached.process.pid as number) - cpu1
    const warmStats = (await cached.cli(['stats'])).json['directory-server']
    rows.push([`search, cache on (${SEARCHERS} x ${DEPTH}, ${SECONDS} s)`, `${Math.round(warm.perSecond).toLocaleString('en')} searches/s, p50 ${warm.p50.toFixed(2)} ms, p99 ${warm.p99.toFixed(2)} ms (${warm.errors} errors; ${(warmStats.replies / warmStats.replyWrites).toFixed(2)} replies per write; ${cpuShare(warm, warmCpu)})`])
    await cached.stop()

    const dbPath = join(server.repo, DIRECTORY_DB)
    for (const q of ['love', 'love music', '音楽']) {
      const r = inProcess(dbPath, q)
      rows.push([`in-process '${q}' (${r.matches.toLocaleString('en')} matches)`, `rank kept in the rowid, LIMIT 100: ${Math.round(r.rowidOrder).toLocaleString('en')}/s; FTS5 ORDER BY rank LIMIT 100: ${r.bm25.toFixed(1)}/s`])
    }
    const { statSync } = await import('node:fs')
    rows.push(['database', `${(statSync(dbPath).size / 1024 / 1024).toFixed(0)} MiB; server RSS ${serverRss.toFixed(0)} MiB`])
    rows.push(['targets', `>= 5,000 ranked searches/s and p99 <= 10 ms (cache off: ${cold.perSecond >= 5000 ? 'met' : 'NOT met'} / ${cold.p99 <= 10 ? 'met' : 'NOT met'}; cache on: ${warm.perSecond >= 5000 ? 'met' : 'NOT met'} / ${warm.p99 <= 10 ? 'met' : 'NOT met'})`])
    rows.push(['total time', `${((performance.now() - t0) / 1000).toFixed(0)} s`])
  } catch (err) {
    if (process.env.BENCH_DIR_DEBUG !== undefined) for (const d of daemons) console.error(d.logs().slice(-20_000))
    throw err
  } finally {
    await Promise.all(nodes.map(async n => { await n.stop() }))
    await Promise.all(daemons.map(async d => { await d.stop() }))
    if (process.env.BENCH_DIR_REPO === undefined) await Promise.all(daemons.map(async d => { await rm(d.repo, { recursive: true, force: true }) }))
  }
  const width = Math.max(...rows.map(([k]) => k.length))
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`)
}

if (process.env.BENCH_DIR_CHILD !== undefined) await searcherChild(JSON.parse(process.env.BENCH_DIR_CHILD))
else await main()
