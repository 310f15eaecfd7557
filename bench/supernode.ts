/**
 * `node bench/supernode.ts`: the supernode/cache peer (generation 3), real
 * `sedai daemon --mode supernode` processes on 127.0.0.1 with fixed roles
 * (--role super / --role leaf), each leaf attached to exactly one supernode
 * (SEDAI_SUPERNODE_LEAF_SUPERNODES=1, bootstrap to that supernode), so the
 * paths are known in advance.
 *
 * 1. Origin load and cache hit ratio under Zipf popularity. 3 supernodes
 *    (they link into a mesh), 3 holder leaves and 6 downloader leaves (one
 *    holder and two downloaders per supernode). BENCH_SN_FILES random files of
 *    BENCH_SN_FILE_BYTES, named `zipfsong-<rank>.bin`, held by the holders
 *    round robin by popularity rank (holder 0 has ranks 1, 4, 7...). A request
 *    plan of BENCH_SN_REQUESTS downloads is drawn once (seeded PRNG, Zipf with
 *    exponent BENCH_SN_ZIPF_S over the ranks), downloaders round robin; a
 *    downloader that already has the file passes the request to the next one
 *    that does not (a request every downloader already has is counted and
 *    dropped). The same plan runs twice, on fresh networks: caching on
 *    (SEDAI_SUPERNODE_CACHE_PROBABILITY=1) and off (0). A completed download
 *    makes the downloader a sharer, which then serves later requests like a
 *    holder: the table counts its bytes apart ("re-sharing leaves"), and the
 *    busiest holder is the busiest of all leaves, original or re-sharing.
 *    Requests go one after another in plan order, each a search for the CID
 *    (BENCH_SN_SEARCH_MS, 300) and then a `get` (through the daemon's API, as
 *    `sedai search` / `sedai get CID -o PATH` do; the get follows the path of
 *    the hits, nearest first); every copy is checked byte for byte.
 * 2. The cost of in-band relaying per hop: one BENCH_SN_HOP_MIB file fetched
 *    (a) directly (`get --from <holder>`: the core transfer, no supernode),
 *    (b) in-band through 1 supernode (downloader and holder on the same one),
 *    (c) in-band through 2 supernodes (downloader's -> holder's -> holder),
 *    caching off so each run relays. The in-band downloader searches for the
 *    CID first (untimed) so the timed get is the transfer alone. A different
 *    file per measurement (a copy makes its downloader a sharer);
 *    BENCH_SN_HOP_RUNS rounds, medians.
 *
 * Knobs: BENCH_SN_FILES (50), BENCH_SN_REQUESTS (200), BENCH_SN_FILE_BYTES
 * (524288), BENCH_SN_ZIPF_S (1), BENCH_SN_SEED (1), BENCH_SN_SEARCH_MS (300), BENCH_SN_HOP_MIB (32),
 * BENCH_SN_HOP_RUNS (1), BENCH_SN_PARTS (zipf,hops: which parts run).
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { seededRandom } from '@sedai/core'
import { ApiClient } from '../packages/cli/src/api-client.ts'
import { startDaemon, until } from '../test/helpers/testnet.ts'
import { writeRandomFile } from '../test/helpers/files.ts'
import type { TestDaemon } from '../test/helpers/testnet.ts'

const MiB = 1024 * 1024
const FILES = Number(process.env.BENCH_SN_FILES ?? 50)
const REQUESTS = Number(process.env.BENCH_SN_REQUESTS ?? 200)
const FILE_BYTES = Number(process.env.BENCH_SN_FILE_BYTES ?? 512 * 1024)
const ZIPF_S = Number(process.env.BENCH_SN_ZIPF_S ?? 1)
const SEED = Number(process.env.BENCH_SN_SEED ?? 1)
const HOP_BYTES = Number(process.env.BENCH_SN_HOP_MIB ?? 32) * MiB
const HOP_RUNS = Number(process.env.BENCH_SN_HOP_RUNS ?? 1)
const PARTS = (process.env.BENCH_SN_PARTS ?? 'zipf,hops').split(',')
const SUPERS = 3
const HOLDERS = 3
const DOWNLOADERS = 6
const WORD = 'zipfsong'
const GET_TIMEOUT_MS = 60_000
/** the search before each get waits this long (hits on loopback arrive within a few ms) */
const SEARCH_MS = Number(process.env.BENCH_SN_SEARCH_MS ?? 300)

/** Fixed roles, one supernode per leaf, fast STATUS exchange; caching set per run. */
const env = (cacheProbability: number): Record<string, string> => ({
  SEDAI_LOG_LEVEL: 'warn',
  SEDAI_SUPERNODE_CACHE_PROBABILITY: String(cacheProbability),
  SEDAI_SUPERNODE_MIN_ROLE_MS: '1000',
  SEDAI_SUPERNODE_KEEPALIVE_MS: '1000',
  SEDAI_SUPERNODE_LEAF_SUPERNODES: '1'
})

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)
const pct = (part: number, whole: number): string => whole === 0 ? '-' : `${(100 * part / whole).toFixed(1)}%`
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

function printTable (rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
  for (const r of rows) console.log(r.map((cell, c) => c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])).join('  '))
}


async function supernodeInfo (d: TestDaemon): Promise<Record<string, any>> {
  return (await (await ApiClient.fromRepo(d.repo)).id() as any).supernode ?? {}
}

async function supernodeStats (d: TestDaemon): Promise<Record<string, any>> {
  return (await (await ApiClient.fromRepo(d.repo)).stats() as any).supernode ?? {}
}

/** A network of fixed roles: `supers` supernodes linked to each other, then leaves bootstrapped to the supernode given for each. */
class Net {
  readonly daemons: TestDaemon[] = []
  readonly supers: TestDaemon[] = []
  private readonly env: Record<string, string>

  constructor (cacheProbability: number) {
    this.env = env(cacheProbability)
  }

  async start (supers: number, leafHomes: number[]): Promise<TestDaemon[]> {
    const first = await startDaemon(undefined, { args: ['--mode', 'supernode', '--role', 'super'], env: this.env })
    this.daemons.push(first)
    this.supers.push(first)
    for (let i = 1; i < supers; i++) {
      // a chain: each supernode bootstraps to the previous one (they then find each other through STATUS)
      const s = await startDaemon(undefined, { args: ['--mode', 'supernode', '--role', 'super', '--bootstrap', this.supers[i - 1].addrs[0]], env: this.env })
      this.daemons.push(s)
      this.supers.push(s)
    }
    await until('supernodes linked', 30_000, async () => {
      const infos = await Promise.all(this.supers.map(supernodeInfo))
      return infos.every(x => x.role === 'super' && x.peers.length === supers - 1) ? true : undefined
    })
    const leaves = await Promise.all(leafHomes.map(async (home) => {
      const d = await startDaemon(undefined, { args: ['--mode', 'supernode', '--role', 'leaf', '--bootstrap', this.supers[home].addrs[0]], env: this.env })
      this.daemons.push(d)
      return d
    }))
    await until('leaves attached', 30_000, async () => {
      const infos = await Promise.all(leaves.map(supernodeInfo))
      return infos.every((x, i) => x.role === 'leaf' && x.supernodes.length === 1 && x.supernodes[0] === this.supers[leafHomes[i]].peerId) ? true : undefined
    })
    return leaves
  }

  async stop (): Promise<void> {
    await Promise.all(this.daemons.map(async d => { await d.stop() }))
    await Promise.all(this.daemons.map(async d => { await rm(d.repo, { recursive: true, force: true }) }))
  }
}

// ---- part 1: Zipf workload, caching on vs off ---------------------------------------------

interface Request { rank: number, downloader: number }

/** The request plan: Zipf ranks from a seeded PRNG, downloaders round robin, a file never asked twice of one downloader. */
function plan (): { requests: Request[], dropped: number } {
  const random = seededRandom(SEED)
  const weights = Array.from({ length: FILES }, (_, k) => 1 / Math.pow(k + 1, ZIPF_S))
  const total = weights.reduce((a, b) => a + b, 0)
  const has = Array.from({ length: DOWNLOADERS }, () => new Set<number>())
  const requests: Request[] = []
  let dropped = 0
  for (let r = 0; r < REQUESTS; r++) {
    let u = random() * total
    let rank = 0
    while (rank < FILES - 1 && u >= weights[rank]) { u -= weights[rank]; rank++ }
    let downloader = -1
    for (let k = 0; k < DOWNLOADERS; k++) {
      const d = (r + k) % DOWNLOADERS
      if (!has[d].has(rank)) { downloader = d; break }
    }
    if (downloader < 0) { dropped++; continue }
    has[downloader].add(rank)
    requests.push({ rank, downloader })
  }
  return { requests, dropped }
}

interface ZipfResult {
  label: string
  requests: number
  failed: number
  noHit: number
  delivered: number
  seconds: number
  getSeconds: number
  holders: number[]
  resharers: number[]
  cacheBytes: number
  relayedBytes: number
  hits: number
  misses: number
  cachedBytes: number
  cachedFiles: number
}

async function zipfRun (label: string, cacheProbability: number, files: Array<{ path: string, hash: string }>, requests: Request[], dir: string): Promise<ZipfResult> {
  const net = new Net(cacheProbability)
  try {
    const homes = [...Array.from({ length: HOLDERS }, (_, i) => i % SUPERS), ...Array.from({ length: DOWNLOADERS }, (_, i) => i % SUPERS)]
    const leaves = await net.start(SUPERS, homes)
    const holders = leaves.slice(0, HOLDERS)
    const downloaders = leaves.slice(HOLDERS)
    // holder h shares the folder of ranks h, h + HOLDERS, ...
    const cids: string[] = []
    for (const [h, holder] of holders.entries()) {
      const shared = await (await ApiClient.fromRepo(holder.repo)).share(join(dir, 'files', `holder-${h}`)) as { shared: Array<{ cid: string, name: string }> }
      for (const f of shared.shared) cids[Number(/-(\d+)\.bin$/.exec(f.name)?.[1]) - 1] = f.cid
    }
    // every file findable from every supernode before the clock starts: each holder finds the others' files
    // (asked by the holders, so that no downloader remembers responders from it)
    await until('all files indexed', 30_000, async () => {
      const found = await Promise.all(holders.map(async d => new Set((await (await ApiClient.fromRepo(d.repo)).search({ query: WORD, timeoutMs: 1000 })).results.map(h => h.cid))))
      return found.every((got, h) => cids.every((cid, k) => k % HOLDERS === h || got.has(cid))) ? true : undefined
    })
    const clients = await Promise.all(downloaders.map(async d => await ApiClient.fromRepo(d.repo)))
    await mkdir(join(dir, label), { recursive: true })
    let delivered = 0
    let failed = 0
    let noHit = 0
    let getSeconds = 0
    const started = performance.now()
    for (const [i, r] of requests.entries()) {
      const out = join(dir, label, `${i}-d${r.downloader}-r${r.rank + 1}.bin`)
      try {
        // search, then get (the get follows the path of the hits just received, nearest first)
        const hits = await clients[r.downloader].search({ query: cids[r.rank], timeoutMs: SEARCH_MS })
        if (hits.results.length === 0) noHit++
        const t0 = performance.now()
        const res = await clients[r.downloader].get({ cid: cids[r.rank], out, timeoutMs: GET_TIMEOUT_MS }, () => {})
        getSeconds += (performance.now() - t0) / 1000
        if (sha256(await readFile(out)) !== files[r.rank].hash) throw new Error('bytes differ')
        delivered += res.fetched
      } catch (err: any) {
        failed++
        console.error(`  ${label}: request ${i} (downloader ${r.downloader}, rank ${r.rank + 1}) failed: ${err.message}`)
      }
    }
    const seconds = (performance.now() - started) / 1000
    const leafStats = await Promise.all(leaves.map(supernodeStats))
    const superStats = await Promise.all(net.supers.map(supernodeStats))
    const sum = (xs: Array<Record<string, any>>, f: (s: Record<string, any>) => number): number => xs.reduce((a, s) => a + Number(f(s) ?? 0), 0)
    return {
      label,
      requests: requests.length,
      failed,
      noHit,
      delivered,
      seconds,
      getSeconds,
      holders: leafStats.slice(0, HOLDERS).map(s => s.bytesServed.origin),
      resharers: leafStats.slice(HOLDERS).map(s => s.bytesServed.origin),
      cacheBytes: sum(superStats, s => s.bytesServed.cache),
      relayedBytes: sum(superStats, s => s.bytesServed.relayed),
      hits: sum(superStats, s => s.cacheHits),
      misses: sum(superStats, s => s.cacheMisses),
      cachedBytes: sum(superStats, s => s.cache?.bytes),
      cachedFiles: sum(superStats, s => s.cache?.files)
    }
  } finally {
    await net.stop()
  }
}

async function zipfPart (dir: string): Promise<void> {
  // the files: random bytes, the same for both runs
  const files: Array<{ path: string, hash: string }> = []
  for (let k = 0; k < FILES; k++) {
    const folder = join(dir, 'files', `holder-${k % HOLDERS}`)
    await mkdir(folder, { recursive: true })
    const bytes = randomBytes(FILE_BYTES)
    const path = join(folder, `${WORD}-${k + 1}.bin`)
    await writeFile(path, bytes)
    files.push({ path, hash: sha256(bytes) })
  }
  const { requests, dropped } = plan()
  const distinct = new Set(requests.map(r => r.rank)).size
  const top = requests.filter(r => r.rank === 0).length
  console.log(`zipf: ${SUPERS} supernodes (mesh), ${HOLDERS} holder leaves + ${DOWNLOADERS} downloader leaves (1 supernode each), ${FILES} files x ${FILE_BYTES / 1024} KiB, ${REQUESTS} requests drawn with Zipf s=${ZIPF_S} (seed ${SEED})`)
  console.log(`plan: ${requests.length} downloads of ${distinct} distinct files (rank 1: ${top}); ${dropped} requests dropped because every downloader already had the file; run one after another`)
  const results: ZipfResult[] = []
  for (const [label, p] of [['cache on', 1], ['cache off', 0]] as Array<[string, number]>) {
    results.push(await zipfRun(label, p, files, requests, dir))
  }
  const col = (f: (r: ZipfResult) => string): string[] => results.map(f)
  const busiest = (r: ZipfResult): number => Math.max(...r.holders, ...r.resharers)
  const rows: string[][] = [
    ['', ...col(r => r.label)],
    ['downloads ok / failed', ...col(r => `${r.requests - r.failed} / ${r.failed}`)],
    ['bytes delivered (MB)', ...col(r => mb(r.delivered))],
    ...Array.from({ length: HOLDERS }, (_, h) => [`holder ${h} served (MB)`, ...col(r => `${mb(r.holders[h])} (${pct(r.holders[h], r.delivered)})`)]),
    ['all holders', ...col(r => { const s = r.holders.reduce((a, b) => a + b, 0); return `${mb(s)} (${pct(s, r.delivered)})` })],
    ['re-sharing leaves (MB)', ...col(r => { const s = r.resharers.reduce((a, b) => a + b, 0); return `${mb(s)} (${pct(s, r.delivered)})` })],
    ['busiest holder share', ...col(r => pct(busiest(r), r.delivered))],
    ['served from caches (MB)', ...col(r => `${mb(r.cacheBytes)} (${pct(r.cacheBytes, r.delivered)})`)],
    ['relayed upstream (MB)', ...col(r => mb(r.relayedBytes))],
    ['cache hit ratio', ...col(r => r.hits + r.misses === 0 ? '-' : `${(r.hits / (r.hits + r.misses)).toFixed(3)} (${r.hits}/${r.hits + r.misses})`)],
    ['cached at end', ...col(r => `${mb(r.cachedBytes)} MB, ${r.cachedFiles} files`)],
    ['requests/s (search+get)', ...col(r => (r.requests / r.seconds).toFixed(2))],
    ['mean get time', ...col(r => `${(1000 * r.getSeconds / r.requests).toFixed(0)} ms`)],
    ['searches without a hit', ...col(r => String(r.noHit))],
    ['wall time', ...col(r => `${r.seconds.toFixed(1)} s`)]
  ]
  printTable(rows)
  console.log('holder = a leaf that shared files at the start; re-sharing leaves = downloaders serving their completed copies; busiest holder = the most bytes served by any one leaf;')
  console.log('served from caches / relayed = bytes the supernodes passed to the next hop from their cache (or a chunk another request brought) / fetched upstream for it (summed over the supernodes on each path)')
  const off = results[1]
  if (off.cacheBytes > 0) console.log(`cache off: ${pct(off.cacheBytes, off.delivered)} of the bytes still came from chunks the supernodes held in relay memory (relayMemoryChunks per supernode, kept until displaced, not only while their ranges are relayed)`)
  const on = results[0]
  console.log(`busiest holder with caching on: ${pct(busiest(on), on.delivered)} of the bytes delivered (target <= 20%) -> ${busiest(on) <= 0.2 * on.delivered ? 'met' : 'MISSED'}`)
}

// ---- part 2: in-band cost per hop ---------------------------------------------------------

async function hopsPart (dir: string): Promise<void> {
  const net = new Net(0)
  try {
    // supernodes A (0) and B (1); the holder and the 1-hop downloader on B, the 2-hop downloader on A
    const [holder, near, far, direct] = await net.start(2, [1, 1, 0, 1])
    const holderApi = await ApiClient.fromRepo(holder.repo)
    const times: Record<'direct' | 'one' | 'two', number[]> = { direct: [], one: [], two: [] }
    for (let run = 0; run < HOP_RUNS; run++) {
      const cids: Record<string, string> = {}
      for (const kind of ['direct', 'one', 'two']) {
        const path = join(dir, `hop-${run}-${kind}.bin`)
        await writeRandomFile(path, HOP_BYTES)
        cids[kind] = (await holderApi.share(path) as { cid: string }).cid
      }
      const timed = async (d: TestDaemon, kind: 'direct' | 'one' | 'two', from?: string[]): Promise<void> => {
        const api = await ApiClient.fromRepo(d.repo)
        const cid = cids[kind]
        if (from === undefined) {
          const hits = await api.search({ query: cid, timeoutMs: 1000 })
          if (!hits.results.some(h => h.providers.includes(holder.peerId))) throw new Error(`${kind}: the search for the file did not find the holder`)
        }
        const started = performance.now()
        const r = await api.get({ cid, out: join(dir, `hop-${run}-${kind}-copy.bin`), from, timeoutMs: 600_000 }, () => {})
        times[kind].push((performance.now() - started) / 1000)
        if (r.fetched !== HOP_BYTES) throw new Error(`${kind}: fetched ${r.fetched} of ${HOP_BYTES}`)
        await rm(join(dir, `hop-${run}-${kind}-copy.bin`), { force: true })
      }
      await timed(direct, 'direct', holder.addrs)
      await timed(near, 'one')
      await timed(far, 'two')
    }
    const superStats = await Promise.all(net.supers.map(supernodeStats))
    const d = median(times.direct)
    const rows: string[][] = [['path', 'supernodes', 'seconds', 'MB/s', 'time / direct', 'per supernode']]
    for (const [kind, name, hops] of [['direct', 'direct (--from holder)', 0], ['one', 'in-band leaf-S-leaf', 1], ['two', 'in-band leaf-S-S-leaf', 2]] as Array<['direct' | 'one' | 'two', string, number]>) {
      const t = median(times[kind])
      rows.push([name, String(hops), t.toFixed(2), (HOP_BYTES / 1e6 / t).toFixed(1), hops === 0 ? '1.00' : (t / d).toFixed(2), hops === 0 ? '-' : (t / d / hops).toFixed(2)])
    }
    console.log(`\nin-band cost per hop: ${HOP_BYTES / MiB} MiB random file, caching off, ${HOP_RUNS} run(s)${HOP_RUNS > 1 ? ', medians' : ''}; in-band timed after a search (transfer only)`)
    printTable(rows)
    console.log(`supernodes cached ${superStats.reduce((a, s) => a + Number(s.cache?.bytes ?? 0), 0)} bytes (caching off: expect 0)`)
    const one = median(times.one) / d
    const two = median(times.two) / d
    console.log(`in-band / direct: ${one.toFixed(2)}x through 1 supernode (target <= 2) -> ${one <= 2 ? 'met' : 'MISSED'}; ${two.toFixed(2)}x through 2 (<= 2 per supernode: ${(two / 2).toFixed(2)} -> ${two / 2 <= 2 ? 'met' : 'MISSED'})`)
  } finally {
    await net.stop()
  }
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sedai-bench-sn-'))
  const started = performance.now()
  try {
    if (PARTS.includes('zipf')) await zipfPart(dir)
    if (PARTS.includes('hops')) await hopsPart(dir)
    console.log(`(bench took ${((performance.now() - started) / 1000).toFixed(0)} s)`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
